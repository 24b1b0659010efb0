/**
 * @module bench/load
 *
 * Load benchmark of `zktally serve` on loopback: the real server runs as a child process
 * (`node --import tsx src/cli/main.ts serve`, 127.0.0.1, port 0, one proving worker) on a fresh data
 * directory seeded with one dataset and `partners` partners (test circuit shape and its pinned development
 * keys, built on first use). Each partner submits `jobsPerPartner` queries; then `clients` concurrent
 * clients (spread over the partners) poll `GET /v1/jobs/:id` of their partner's jobs every `intervalMs`
 * (with jitter) while the proofs run, and when a job is done fetch `GET /v1/jobs/:id/bundle` and verify it
 * offline with the partner SDK (`zktally/verifier`, pinned key and operator key). A client is finished when
 * it has verified every bundle of its partner.
 *
 * Run: `npm run bench:load` or `npx tsx bench/load.ts [--clients 100] [--partners 10] [--jobs-per-partner 1]
 * [--interval-ms 100] [--max-seconds 120]`. Prints request counts and p50/p90/p99/max latency per endpoint
 * (client-side wall clock, request start to body read), proof throughput, and ends with `errors: N`:
 * non-2xx answers, network failures, failed jobs, bundles that do not verify, and clients unfinished when
 * time ran out.
 *
 * Caveats: clients, the server and the prover share the machine's cores (2 here), so latency includes CPU
 * contention with proving and with the clients' own pairing checks; the numbers are for comparing versions
 * on one machine, not capacity planning. Bounded: it stops after `maxSeconds` and never leaves loopback.
 */
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { setPriority } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { circuitId } from "../src/circuits/shape.ts";
import { AdminOps } from "../src/service/admin.ts";
import { parseServiceConfig } from "../src/service/config.ts";
import { initService } from "../src/service/server.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { type VerifyOptions, verify } from "../src/verifier/verify-bundle.ts";
import { TEST_SHAPE } from "../test/helpers/circuits.ts";
import { buildTestKeys, TEST_KEYS_DIR } from "../test/helpers/keys.ts";
import { type ServeProcess, spawnServe } from "../test/helpers/serve-process.ts";
import { ROWS_A, SERVICE_SCHEMA, tempDir } from "../test/helpers/service.ts";

const VERIFIER_FLAG = "--verifier-process";
const isVerifier = process.argv.includes(VERIFIER_FLAG);
const { values } = parseArgs({
  args: isVerifier ? [] : process.argv.slice(2),
  options: {
    clients: { type: "string", default: "100" },
    partners: { type: "string", default: "10" },
    "jobs-per-partner": { type: "string", default: "1" },
    "interval-ms": { type: "string", default: "100" },
    "max-seconds": { type: "string", default: "120" },
  },
  strict: true,
});
const CLIENTS = positive(values.clients, "clients");
const PARTNERS = Math.min(positive(values.partners, "partners"), CLIENTS);
const JOBS_PER_PARTNER = positive(values["jobs-per-partner"], "jobs-per-partner");
const INTERVAL_MS = positive(values["interval-ms"], "interval-ms");
const MAX_SECONDS = positive(values["max-seconds"], "max-seconds");
const CIRCUIT = circuitId(TEST_SHAPE);
/** Processes verifying bundles for the clients. */
const VERIFIERS = 2;

function positive(value: string | undefined, name: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1)
    throw new RangeError(`--${name} must be a positive integer`);
  return number;
}

interface Partner {
  readonly clientId: string;
  readonly clientSecret: string;
  accessToken?: string;
  jobs: string[];
}

const latencies = new Map<string, number[]>();
const errors: string[] = [];
let requests = 0;
const verifyMs: number[] = [];
/** Event-loop delay of this (client) process: a stalled client inflates its own latencies. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
/** Server-side request times from the access log (request received to response finished). */
const serverMs: number[] = [];

function recordError(what: string): void {
  if (errors.length < 20) process.stderr.write(`error: ${what}\n`);
  errors.push(what);
}

async function timed(
  endpoint: string,
  url: string,
  init: RequestInit,
): Promise<{ status: number; body: string }> {
  const started = performance.now();
  const response = await fetch(url, init);
  const body = await response.text();
  const elapsed = performance.now() - started;
  requests++;
  let list = latencies.get(endpoint);
  if (!list) {
    list = [];
    latencies.set(endpoint, list);
  }
  list.push(elapsed);
  return { status: response.status, body };
}

async function seed(dataDir: string): Promise<{ partners: Partner[]; operatorKey: string }> {
  const config = parseServiceConfig({ dataDir, keysDir: TEST_KEYS_DIR, circuit: CIRCUIT, scryptLogN: 12 });
  const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const opened = await initService(config, { logDestination: discard });
  const admin = new AdminOps(opened.ctx);
  await admin.registerDataset(null, crypto.randomUUID(), {
    datasetId: "bench",
    schema: SERVICE_SCHEMA,
    rows: ROWS_A,
  });
  const partners: Partner[] = [];
  for (let i = 0; i < PARTNERS; i++) {
    const { clientSecret } = await admin.createPartner(null, crypto.randomUUID(), {
      clientId: `bench-${i}`,
      scopes: ["datasets:read", "queries:submit"],
      policy: {
        datasets: ["bench"],
        fields: ["country", "bot"],
        minGroupSize: 1,
        budget: { queries: 1000, periodSeconds: 3600 },
      },
    });
    partners.push({ clientId: `bench-${i}`, clientSecret, jobs: [] });
  }
  const operatorKey = opened.ctx.operatorKey;
  opened.close();
  return { partners, operatorKey };
}

function startServer(dataDir: string): Promise<ServeProcess> {
  return spawnServe(
    [
      "--data-dir",
      dataDir,
      "--keys-dir",
      TEST_KEYS_DIR,
      "--circuit",
      CIRCUIT,
      "--rate-limit",
      "1000000",
      "--token-rate-limit",
      "100000",
      "--max-queued-per-partner",
      "10000",
      "--max-queued",
      "100000",
      "--scrypt-log-n",
      "12",
      "--log-level",
      "info",
    ],
    {
      stderr: "inherit",
      // The access log (one JSON line per request, as in production): its "ms" is the server-side time.
      onLine(line) {
        const ms = /"msg":"request"/.test(line) ? /"ms":([0-9.]+)/.exec(line) : null;
        if (ms) serverMs.push(Number(ms[1]));
      },
    },
  );
}

async function getToken(url: string, partner: Partner): Promise<string> {
  const response = await timed("POST /oauth/token", `${url}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: partner.clientId,
      client_secret: partner.clientSecret,
    }),
  });
  if (response.status !== 200) throw new Error(`token for ${partner.clientId}: ${response.status}`);
  return (JSON.parse(response.body) as { access_token: string }).access_token;
}

const QUERIES = [
  { predicate: [{ field: "country", op: "eq", value: "FR" }], aggregate: { kind: "count" } },
  { predicate: [{ field: "bot", op: "eq", value: false }], aggregate: { kind: "count" } },
  { predicate: [{ field: "country", op: "in", value: ["FR", "DE"] }], aggregate: { kind: "count" } },
];

async function submitJobs(url: string, partners: Partner[]): Promise<void> {
  let n = 0;
  for (let round = 0; round < JOBS_PER_PARTNER; round++) {
    for (const partner of partners) {
      const response = await timed("POST /v1/queries", `${url}/v1/queries`, {
        method: "POST",
        headers: { authorization: `Bearer ${partner.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify({
          datasetId: "bench",
          query: QUERIES[n++ % QUERIES.length],
          nonce: String(1000 + n),
        }),
      });
      if (response.status !== 202) recordError(`submit ${response.status}`);
      else partner.jobs.push((JSON.parse(response.body) as { jobId: string }).jobId);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function client(url: string, partner: Partner, deadline: number, verifiers: VerifierPool) {
  const verified = new Set<string>();
  const headers = { authorization: `Bearer ${partner.accessToken}` };
  await sleep(Math.random() * INTERVAL_MS);
  while (verified.size < partner.jobs.length) {
    if (Date.now() > deadline) {
      recordError(`client of ${partner.clientId} unfinished at the deadline`);
      return;
    }
    const pending = partner.jobs.filter((id) => !verified.has(id));
    const jobId = pending[Math.floor(Math.random() * pending.length)] as string;
    try {
      const status = await timed("GET /v1/jobs/:id", `${url}/v1/jobs/${jobId}`, { headers });
      if (status.status !== 200) {
        recordError(`status ${status.status}`);
      } else {
        const job = JSON.parse(status.body) as { state: string };
        if (job.state === "failed") {
          recordError(`job ${jobId} failed`);
          verified.add(jobId);
        } else if (job.state === "done") {
          const bundle = await timed("GET /v1/jobs/:id/bundle", `${url}/v1/jobs/${jobId}/bundle`, {
            headers,
          });
          if (bundle.status !== 200) recordError(`bundle ${bundle.status}`);
          else if (!(await verifiers.verify(bundle.body))) recordError(`bundle of ${jobId} invalid`);
          verified.add(jobId);
        }
      }
    } catch (error) {
      recordError(`network: ${(error as Error).message}`);
    }
    await sleep(INTERVAL_MS * (0.5 + Math.random()));
  }
}

/**
 * Bundles are verified (pairings, ~tens of ms each) in separate processes, so the clients' event loop that
 * times the requests is never blocked by verification.
 */
class VerifierPool {
  private readonly children: ChildProcess[] = [];
  private readonly pending = new Map<number, (valid: boolean) => void>();
  private next = 0;
  private id = 0;

  constructor(size: number, options: VerifyOptions) {
    for (let i = 0; i < size; i++) {
      const child = fork(fileURLToPath(import.meta.url), [VERIFIER_FLAG], {
        execArgv: ["--import", "tsx"],
        serialization: "advanced",
      });
      child.on("message", (message: { id: number; valid: boolean; ms: number }) => {
        verifyMs.push(message.ms);
        this.pending.get(message.id)?.(message.valid);
        this.pending.delete(message.id);
      });
      child.send({ options });
      this.children.push(child);
    }
  }

  verify(bundleText: string): Promise<boolean> {
    const id = this.id++;
    const child = this.children[this.next++ % this.children.length] as ChildProcess;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      child.send({ id, bundleText });
    });
  }

  close(): void {
    for (const child of this.children) child.kill();
  }
}

/** The verifier process: `{options}` once, then `{id, bundleText}` -> `{id, valid, ms}`. */
function runVerifierProcess(): void {
  // The partners' machines would be elsewhere: keep these helpers from competing with the server.
  setPriority(10);
  let options: VerifyOptions | undefined;
  process.on("message", (message: { options?: VerifyOptions; id?: number; bundleText?: string }) => {
    if (message.options) {
      options = message.options;
      return;
    }
    const started = performance.now();
    let valid = false;
    try {
      valid = verify(message.bundleText as string, options as VerifyOptions).valid;
    } catch {
      valid = false;
    }
    process.send?.({ id: message.id, valid, ms: performance.now() - started });
  });
  process.on("disconnect", () => process.exit(0));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function report(elapsedSeconds: number, proofs: number): void {
  const rows: string[][] = [["endpoint", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms"]];
  const all: number[] = [];
  for (const [endpoint, list] of latencies) {
    const sorted = [...list].sort((a, b) => a - b);
    all.push(...list);
    rows.push([
      endpoint,
      String(list.length),
      ...[50, 90, 99, 100].map((p) => percentile(sorted, p).toFixed(1)),
    ]);
  }
  const sortedAll = all.sort((a, b) => a - b);
  rows.push([
    "all",
    String(all.length),
    ...[50, 90, 99, 100].map((p) => percentile(sortedAll, p).toFixed(1)),
  ]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length))) ?? [];
  for (const row of rows)
    process.stdout.write(`${row.map((cell, i) => cell.padStart(widths[i] as number)).join("  ")}\n`);
  process.stdout.write(
    `clients: ${CLIENTS}, partners: ${PARTNERS}, jobs: ${PARTNERS * JOBS_PER_PARTNER}, proofs verified by clients: ${proofs}, ` +
      `wall: ${elapsedSeconds.toFixed(1)} s, requests/s: ${(requests / elapsedSeconds).toFixed(0)}\n`,
  );
  const server = [...serverMs].sort((a, b) => a - b);
  process.stdout.write(
    `server-side (access log, ${server.length} requests): p50 ${percentile(server, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(server, 99).toFixed(1)} ms, max ${percentile(server, 100).toFixed(1)} ms\n`,
  );
  process.stdout.write(
    `client event-loop delay: p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms\n`,
  );
  const verifyTotal = verifyMs.reduce((a, b) => a + b, 0);
  process.stdout.write(
    `offline verification (SDK, in ${VERIFIERS} helper processes): ${verifyMs.length} bundles, ` +
      `${(verifyTotal / Math.max(1, verifyMs.length)).toFixed(1)} ms each\n`,
  );
  process.stdout.write(
    `p50: ${percentile(sortedAll, 50).toFixed(1)} ms, p99: ${percentile(sortedAll, 99).toFixed(1)} ms\n`,
  );
}

async function main(): Promise<void> {
  process.stdout.write(`bench:load — building/checking test keys for ${CIRCUIT}\n`);
  await buildTestKeys();
  await terminateCurveWorkers();
  const dataDir = tempDir("bench");
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let verifiers: VerifierPool | undefined;
  try {
    const { partners, operatorKey } = await seed(dataDir);
    server = await startServer(dataDir);
    process.stdout.write(
      `server ${server.url} (pid ${server.child.pid}); ${CLIENTS} clients, ${PARTNERS} partners\n`,
    );
    for (const partner of partners) partner.accessToken = await getToken(server.url, partner);
    const vkey = JSON.parse(readFileSync(join(TEST_KEYS_DIR, `${CIRCUIT}.vkey.json`), "utf8"));
    verifiers = new VerifierPool(VERIFIERS, { keys: { [CIRCUIT]: vkey }, operatorKey });
    const started = performance.now();
    loopDelay.enable();
    await submitJobs(server.url, partners);
    const deadline = Date.now() + MAX_SECONDS * 1000;
    const url = server.url;
    await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        client(url, partners[i % PARTNERS] as Partner, deadline, verifiers as VerifierPool),
      ),
    );
    const elapsed = (performance.now() - started) / 1000;
    const proofs = latencies.get("GET /v1/jobs/:id/bundle")?.length ?? 0;
    report(elapsed, proofs);
  } finally {
    verifiers?.close();
    if (server) {
      server.child.kill("SIGTERM");
      const code = await server.exited;
      if (code !== 0) recordError(`server exited with ${code}`);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.stdout.write(`errors: ${errors.length}\n`);
  process.exitCode = errors.length === 0 ? 0 : 1;
}

if (isVerifier) runVerifierProcess();
else
  main().catch((error: unknown) => {
    process.stderr.write(`bench:load failed: ${(error as Error).stack ?? String(error)}\n`);
    process.stdout.write(`errors: ${errors.length + 1}\n`);
    process.exitCode = 1;
  });
