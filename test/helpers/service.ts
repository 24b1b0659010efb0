/**
 * @module test/helpers/service
 *
 * Helpers for the service integration tests: a small configuration on the test circuit (TEST_SHAPE and its
 * pinned keys), a real server on 127.0.0.1 with a fresh data directory, captured log lines and responses,
 * partners and datasets registered through the real admin operations, and a tiny HTTP client.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll } from "vitest";
import { circuitId } from "../../src/circuits/shape.ts";
import type { ProverBackend } from "../../src/prover/backend.ts";
import { AdminOps } from "../../src/service/admin.ts";
import { parseServiceConfig, type ServiceConfig, type ServiceConfigInput } from "../../src/service/config.ts";
import {
  initService,
  type RunningServer,
  type ServiceOverrides,
  startServer,
} from "../../src/service/server.ts";
import { TEST_SHAPE } from "./circuits.ts";
import { TEST_KEYS_DIR } from "./keys.ts";

export const TEST_CIRCUIT = circuitId(TEST_SHAPE);

/** 4 fields of at most 16 bits (TEST_SHAPE), keyed by userId. */
export const SERVICE_SCHEMA = {
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: ["FR", "DE", "US", "JP"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
  ],
  key: "userId",
} as const;

export interface Row {
  userId: number;
  country: "FR" | "DE" | "US" | "JP";
  edits: number;
  bot: boolean;
}

/**
 * Distinctive values (never used in queries) so tests can grep responses and logs for them.
 * Dataset "A": 6 records, 4 from FR, 1 bot.
 */
export const ROWS_A: Row[] = [
  { userId: 51234, country: "FR", edits: 27182, bot: false },
  { userId: 52345, country: "FR", edits: 31415, bot: false },
  { userId: 53456, country: "FR", edits: 16180, bot: true },
  { userId: 54567, country: "FR", edits: 14142, bot: false },
  { userId: 55678, country: "DE", edits: 17320, bot: false },
  { userId: 56789, country: "US", edits: 22360, bot: false },
];

/** Dataset "B": same schema, different true counts (1 record from FR). */
export const ROWS_B: Row[] = [
  { userId: 41234, country: "FR", edits: 26457, bot: false },
  { userId: 42345, country: "DE", edits: 28284, bot: false },
  { userId: 43456, country: "DE", edits: 30000, bot: true },
  { userId: 44567, country: "US", edits: 33166, bot: false },
  { userId: 45678, country: "JP", edits: 34641, bot: false },
];

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `zktally-${prefix}-`));
}

/** A configuration on the test circuit: loopback, port 0, cheap scrypt, short leases, development mode (the
 * test circuit's keys are INSECURE development keys, which production mode refuses to serve). */
export function testConfig(dataDir: string, overrides: Partial<ServiceConfigInput> = {}): ServiceConfig {
  const { jobs, ...rest } = overrides;
  return parseServiceConfig({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    keysDir: TEST_KEYS_DIR,
    circuit: TEST_CIRCUIT,
    mode: "development",
    scryptLogN: 12,
    logLevel: "info",
    // The noisy final step of the dp tests (fits the chunk tests' 2^13 ptau), not the 8192-coin default.
    noise: { maxCoins: 512, maxScaleBits: 8 },
    ...rest,
    jobs: { leaseMs: 3_000, pollMs: 50, drainTimeoutMs: 5_000, retryDelayMs: 100, ...jobs },
  });
}

/** Collects every log line written by the service. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(
      ...String(chunk)
        .split("\n")
        .filter((line) => line !== ""),
    );
    callback();
  }
  text(): string {
    return this.lines.join("\n");
  }
}

export interface TestService {
  readonly server: RunningServer;
  readonly url: string;
  readonly logs: LogCapture;
  readonly admin: AdminOps;
  readonly dataDir: string;
  /** Every response body (and header block) seen by `api`. */
  readonly responses: string[];
  api(method: string, pathname: string, options?: ApiOptions): Promise<ApiResponse>;
  close(): Promise<void>;
}

export interface ApiOptions {
  readonly token?: string;
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  readonly json: any;
}

export async function startTestService(
  options: { config?: Partial<ServiceConfigInput>; overrides?: ServiceOverrides; dataDir?: string } = {},
): Promise<TestService> {
  const dataDir = options.dataDir ?? tempDir("svc");
  const logs = new LogCapture();
  // Identities are created by an explicit init only (idempotent on an initialised directory).
  (
    await initService(testConfig(dataDir, options.config), { logDestination: logs, ...options.overrides })
  ).close();
  const server = await startServer(testConfig(dataDir, options.config), {
    logDestination: logs,
    ...options.overrides,
  });
  const responses: string[] = [];
  const api = async (method: string, pathname: string, opts: ApiOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined = opts.rawBody;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await httpRequest(`${server.url}${pathname}`, method, headers, body);
    const { text } = response;
    const headerLines: string[] = [];
    response.headers.forEach((value, name) => {
      headerLines.push(`${name}: ${value}`);
    });
    responses.push(`${headerLines.join("\n")}\n\n${text}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  };
  return {
    server,
    url: server.url,
    logs,
    admin: new AdminOps(server.ctx),
    dataDir,
    responses,
    api,
    async close() {
      await server.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestPartner {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Registers a partner through the audited admin operations. */
export async function addPartner(
  service: TestService,
  clientId: string,
  scopes: string[],
  policy: Record<string, unknown> = {},
): Promise<TestPartner> {
  const { clientSecret } = await service.admin.createPartner(null, crypto.randomUUID(), {
    clientId,
    scopes,
    policy,
  });
  return { clientId, clientSecret };
}

export async function addDataset(service: TestService, datasetId: string, rows: Row[]) {
  return service.admin.registerDataset(null, crypto.randomUUID(), {
    datasetId,
    schema: SERVICE_SCHEMA,
    rows,
  });
}

/** Client-credentials token via HTTP Basic. */
export async function token(service: TestService, partner: TestPartner, scope?: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: "client_credentials", ...(scope ? { scope } : {}) });
  const basic = Buffer.from(
    `${encodeURIComponent(partner.clientId)}:${encodeURIComponent(partner.clientSecret)}`,
  ).toString("base64");
  const response = await service.api("POST", "/oauth/token", {
    rawBody: form.toString(),
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
  });
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${response.text}`);
  return response.json.access_token as string;
}

/** Polls a job until it is done or failed. */
export async function waitForJob(
  service: TestService,
  accessToken: string,
  jobId: string,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await service.api("GET", `/v1/jobs/${jobId}`, { token: accessToken });
    if (response.status !== 200) throw new Error(`job status ${response.status}: ${response.text}`);
    if (response.json.state === "done" || response.json.state === "failed") return response.json;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${response.json.state}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The count query over `ROWS_*` most service tests submit. */
export const FR_COUNT = {
  predicate: [{ field: "country", op: "eq", value: "FR" }],
  aggregate: { kind: "count" },
};

/** Nonce strings that are not canonical decimals (leading zero, hex, sign, fraction, space, empty, too long). */
export const MALFORMED_NONCES: readonly string[] = ["007", "0x7", "-1", "1.5", " 1", "", "1".repeat(80)];

/** A list for the services a test file starts; all of them are closed after the file's tests. */
export function closedAfterAll(): TestService[] {
  const services: TestService[] = [];
  afterAll(async () => {
    for (const service of services) await service.close().catch(() => {});
  });
  return services;
}

let nonceCounter = BigInt(Date.now()) * 1000n;
/** A fresh canonical-decimal nonce. */
export function nonce(): string {
  nonceCounter += 1n;
  return nonceCounter.toString();
}

/** A prover backend whose every proof throws `makeError()`; `calls()` counts the attempts. */
export function failingBackend(makeError: () => unknown): ProverBackend & { calls(): number } {
  let calls = 0;
  return {
    name: "failing",
    prove: async () => {
      calls++;
      throw makeError();
    },
    close: async () => {},
    calls: () => calls,
  };
}

/** The budget ledger state of a job (reserved, charged, refunded). */
export function ledgerState(service: TestService, jobId: string): unknown {
  return service.server.ctx.db.prepare("SELECT state FROM budget_ledger WHERE job_id = ?").pluck().get(jobId);
}

/**
 * One HTTP exchange without fetch's 300 s headers timeout: a dataset registration on a cold build cache
 * builds development chain keys inside the request (many minutes on a loaded 2-core machine); the test's
 * own timeout bounds it instead.
 */
function httpRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const sent =
      body === undefined ? headers : { "content-length": String(Buffer.byteLength(body)), ...headers };
    const outgoing = request(url, { method, headers: sent }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("error", reject);
      incoming.on("end", () => {
        const received = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            received.append(name, one);
          }
        }
        resolve({
          status: incoming.statusCode ?? 0,
          headers: received,
          text: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}
