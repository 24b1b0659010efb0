/**
 * Durable jobs with the real server as a child process (`node --import tsx src/cli/main.ts serve ...`):
 * `kill -9` while a proof runs, restart on the same data directory, and every job completes exactly once
 * (one bundle, one budget charge, one "query.answer accepted" audit entry per job; the interrupted job was
 * proven again). The orphaned prover process exits by itself. Then SIGTERM during a proof: the server
 * drains or re-queues the job, exits 0, and a restart finishes everything; the audit log verifies.
 */

import { type ChildProcess, execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAudit } from "../src/cli/commands/audit.ts";
import { AdminOps } from "../src/service/admin.ts";
import { databaseFileOf } from "../src/service/config.ts";
import { initService } from "../src/service/server.ts";
import { verify } from "../src/verifier/verify-bundle.ts";
import { serveFlags } from "./helpers/cli-output.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import { type ServeProcess, spawnServe } from "./helpers/serve-process.ts";
import {
  LogCapture,
  nonce,
  ROWS_A,
  SERVICE_SCHEMA,
  TEST_CIRCUIT,
  tempDir,
  testConfig,
} from "./helpers/service.ts";

const dataDir = tempDir("crash");
let clientSecret: string;
let operatorKey: string;
const children: ChildProcess[] = [];

async function spawnServer(): Promise<ServeProcess> {
  const server = await spawnServe([
    ...serveFlags(dataDir),
    "--job-lease-ms",
    "1500",
    "--drain-timeout-ms",
    "10000",
  ]);
  children.push(server.child);
  return server;
}

async function call(url: string, method: string, route: string, accessToken?: string, body?: unknown) {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: {
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

async function getToken(url: string): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: "alice",
      client_secret: clientSecret,
    }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

const QUERIES = [
  { predicate: [{ field: "country", op: "eq", value: "FR" }], aggregate: { kind: "count" } },
  { predicate: [{ field: "bot", op: "eq", value: false }], aggregate: { kind: "count" } },
];

async function submitAll(url: string, accessToken: string): Promise<string[]> {
  const ids: string[] = [];
  for (const query of QUERIES) {
    const response = await call(url, "POST", "/v1/queries", accessToken, {
      datasetId: "ds-a",
      query,
      nonce: nonce(),
    });
    expect(response.status).toBe(202);
    ids.push(response.json.jobId);
  }
  return ids;
}

/** Polls until some job of `ids` is proving; returns its id. */
async function waitForProving(url: string, accessToken: string, ids: string[]): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const id of ids) {
      const { json } = await call(url, "GET", `/v1/jobs/${id}`, accessToken);
      if (json.state === "running" && json.progress.phase === "proving") return id;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("no job reached the proving phase");
}

async function waitAllDone(url: string, accessToken: string, ids: string[]) {
  const deadline = Date.now() + 60_000;
  for (const id of ids) {
    for (;;) {
      const { json } = await call(url, "GET", `/v1/jobs/${id}`, accessToken);
      if (json.state === "done") break;
      if (json.state === "failed") throw new Error(`job ${id} failed: ${JSON.stringify(json)}`);
      if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${json.state}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Running (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function auditEntries(db: Database.Database) {
  return (db.prepare("SELECT entry FROM audit_entries ORDER BY idx").pluck().all() as string[]).map((text) =>
    JSON.parse(text),
  );
}

/** Exactly-once invariants over the database for `ids`. */
function checkExactlyOnce(ids: string[]) {
  const db = new Database(databaseFileOf(testConfig(dataDir)), { readonly: true });
  try {
    const entries = auditEntries(db);
    for (const id of ids) {
      const job = db.prepare("SELECT * FROM jobs WHERE job_id = ?").get(id) as {
        state: string;
        request_id: string;
        attempts: number;
      };
      expect(job.state).toBe("done");
      expect(db.prepare("SELECT COUNT(*) FROM bundles WHERE job_id = ?").pluck().get(id)).toBe(1);
      expect(db.prepare("SELECT state FROM budget_ledger WHERE job_id = ?").pluck().all(id)).toEqual([
        "charged",
      ]);
      const mine = entries.filter((entry) => entry.requestId === job.request_id);
      expect(mine.map((entry) => `${entry.action}:${entry.decision}`).sort()).toEqual([
        "query.answer:accepted",
        "query.submit:accepted",
      ]);
    }
    const jobs = db.prepare("SELECT COUNT(*) FROM jobs").pluck().get();
    expect(
      db
        .prepare(
          "SELECT COUNT(*) FROM budget_ledger WHERE partner_id = 'alice' AND state IN ('reserved', 'charged')",
        )
        .pluck()
        .get(),
    ).toBe(jobs);
    expect(db.prepare("SELECT COUNT(*) FROM bundles").pluck().get()).toBe(jobs);
    return {
      attempts: Object.fromEntries(
        ids.map((id) => [
          id,
          db.prepare("SELECT attempts FROM jobs WHERE job_id = ?").pluck().get(id) as number,
        ]),
      ),
      bundles: ids.map((id) =>
        JSON.parse(db.prepare("SELECT bundle FROM bundles WHERE job_id = ?").pluck().get(id) as string),
      ),
    };
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  const opened = await initService(testConfig(dataDir), { logDestination: new LogCapture() });
  const admin = new AdminOps(opened.ctx);
  ({ clientSecret } = await admin.createPartner(null, crypto.randomUUID(), {
    clientId: "alice",
    scopes: ["queries:submit"],
    policy: {
      datasets: ["ds-a"],
      fields: ["country", "bot"],
      minGroupSize: 1,
      budget: { queries: 20, periodSeconds: 86_400 },
    },
  }));
  await admin.registerDataset(null, crypto.randomUUID(), {
    datasetId: "ds-a",
    schema: SERVICE_SCHEMA,
    rows: ROWS_A,
  });
  operatorKey = opened.ctx.operatorKey;
  opened.close();
});

afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("durable jobs across crashes", () => {
  let running: ServeProcess;
  let accessToken: string;
  const allJobs: string[] = [];

  it("kill -9 mid-proof, restart: every job completes exactly once and the prover process does not linger", async () => {
    const first = await spawnServer();
    accessToken = await getToken(first.url);
    const ids = await submitAll(first.url, accessToken);
    allJobs.push(...ids);
    const interrupted = await waitForProving(first.url, accessToken, ids);
    const provers = childPids(first.child.pid as number);
    expect(provers.length).toBeGreaterThan(0);
    first.child.kill("SIGKILL");
    await first.exited;

    // On disk: the interrupted job is still "running" under a lease that will expire; nothing was answered.
    const db = new Database(databaseFileOf(testConfig(dataDir)), { readonly: true });
    const row = db.prepare("SELECT state, attempts FROM jobs WHERE job_id = ?").get(interrupted);
    expect(row).toEqual({ state: "running", attempts: 1 });
    expect(db.prepare("SELECT COUNT(*) FROM bundles WHERE job_id = ?").pluck().get(interrupted)).toBe(0);
    db.close();
    // The orphaned prover notices its parent is gone (IPC disconnect) and exits.
    const deadline = Date.now() + 3000;
    while (provers.some(alive) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    for (const pid of provers) expect(alive(pid), `prover ${pid} outlived its server`).toBe(false);

    running = await spawnServer();
    // Tokens survive restarts (the token key is sealed in the database).
    await waitAllDone(running.url, accessToken, ids);
    const { attempts, bundles } = checkExactlyOnce(ids);
    expect(attempts[interrupted]).toBe(2);
    const keys = {
      [TEST_CIRCUIT]: JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, `${TEST_CIRCUIT}.vkey.json`), "utf8")),
    };
    for (const bundle of bundles) expect(verify(bundle, { keys, operatorKey }).valid).toBe(true);
  });

  it("SIGTERM mid-proof drains or re-queues, exits 0; a restart finishes the rest; the audit log verifies", async () => {
    const ids = await submitAll(running.url, accessToken);
    allJobs.push(...ids);
    await waitForProving(running.url, accessToken, ids);
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);

    const db = new Database(databaseFileOf(testConfig(dataDir)), { readonly: true });
    const states = db
      .prepare("SELECT state FROM jobs WHERE job_id IN (?, ?)")
      .pluck()
      .all(...ids);
    expect(states).not.toContain("running"); // nothing left leased by a process that is gone
    expect(states).toContain("done"); // the running proof was allowed to finish
    db.close();

    const last = await spawnServer();
    await waitAllDone(last.url, accessToken, ids);
    last.child.kill("SIGTERM");
    expect(await last.exited).toBe(0);
    checkExactlyOnce(allJobs);
    let out = "";
    const code = await runAudit(["verify", "--db", databaseFileOf(testConfig(dataDir)), "--json"], {
      out: (text) => {
        out += text;
      },
      err: () => {},
    });
    expect(code, out).toBe(0);
  });
});
