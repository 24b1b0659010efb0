/**
 * @module cli/query-command
 *
 * `zktally query`: the partner's client. Gets a token by client credentials (refreshed when it expires),
 * generates a canonical nonce below r itself, submits the query (`POST /v1/queries`; a JSON array of queries is one
 * pass, `POST /v1/passes`: a histogram or several queries in one proof), follows the job (a progress bar with
 * chunks done / total and the ETA on a terminal, a plain line per change otherwise, on stderr), downloads
 * the bundle, fetches the verification keys from `GET /v1/circuits` and verifies the bundle with the SDK
 * against the pinned `--operator-key` and the nonce it sent. Exit codes: 0 valid, 1 invalid or the job
 * failed, 2 bad usage or refused by the service, 3 malformed bundle or keys, 4 insecure keys refused.
 *
 * Startup: like `verify`, this module loads the SDK and Node built-ins only.
 */
import { readFile, writeFile } from "node:fs/promises";
import { describeNamedKeys, type NamedKey } from "../query/named-keys.ts";
import type { JobView } from "../service/views.ts";
import { JsonTextError, parseStrictJson } from "../util/strict-json.ts";
import { keysFromCircuitListing } from "../verifier/circuit-listing.ts";
import { InsecureKeysError, VerifierInputError } from "../verifier/errors.ts";
import { UsageError } from "./command.ts";
import { QueryClientError, randomNonce, ServiceClient } from "./query-client.ts";
import {
  type Report,
  VERIFY_EXIT,
  verifyWithSdk,
  writeInsecureRefusal,
  writeMalformed,
  writeResult,
} from "./verify-command.ts";

export interface QueryOptions {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly dataset: string;
  readonly query: string;
  readonly operatorKey: string;
  readonly epoch?: string;
  readonly out?: string;
  readonly allowInsecureKeys?: boolean;
  readonly json?: boolean;
  readonly pollMs: string;
  readonly timeout: string;
}

/** `--query`: inline JSON (an object, or an array for a pass) or a file holding it; errors name the file. */
/** `--query` given as JSON text rather than a file name. */
function isInlineJson(value: string): boolean {
  return /^\s*[[{]/.test(value);
}

/** How messages name the `--query` argument: the flag, and the file when it is one. */
export function querySource(value: string): string {
  return isInlineJson(value) ? "--query" : `--query ${value}`;
}

export async function queryArgument(value: string): Promise<unknown> {
  const inline = isInlineJson(value);
  const source = querySource(value);
  const text = inline
    ? value
    : await readFile(value, "utf8").catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`${source}: cannot read the file (${error.code ?? error.message})`);
      });
  try {
    return parseStrictJson(text);
  } catch (error) {
    throw new UsageError(`${source}: not valid JSON (${(error as Error).message})`);
  }
}

function positiveNumber(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`${flag} ${text}: expected a positive number`);
  return value;
}

/** One progress line: phase, chunks done / total, percent, ETA. */
export function progressText(job: JobView): string {
  const { progress } = job;
  if (job.state === "queued") {
    return `queued${progress.queuePosition === undefined ? "" : ` (position ${progress.queuePosition})`}`;
  }
  const chunks =
    progress.chunks === undefined ? "" : ` chunks ${progress.chunks.done}/${progress.chunks.total}`;
  const eta = progress.etaSeconds === undefined ? "" : `, ETA ${progress.etaSeconds} s`;
  return `${progress.phase}${chunks} ${progress.percent}%${eta}`;
}

function bar(percent: number, width = 24): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

/** Shows progress on stderr: a bar redrawn in place on a terminal, a line per change otherwise. */
function progressDisplay(): { show(job: JobView): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = "";
  return {
    show(job) {
      const text = progressText(job);
      if (text === last) return;
      last = text;
      process.stderr.write(tty ? `\r\x1b[2K${bar(job.progress.percent)} ${text}` : `${text}\n`);
    },
    end() {
      if (tty && last !== "") process.stderr.write("\n");
    },
  };
}

async function followJob(
  client: ServiceClient,
  jobId: string,
  pollMs: number,
  timeoutMs: number,
): Promise<JobView> {
  const display = progressDisplay();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const job = await client.getJson<JobView>(`/v1/jobs/${encodeURIComponent(jobId)}`);
      display.show(job);
      if (job.state === "done" || job.state === "failed") return job;
      if (Date.now() > deadline)
        throw new QueryClientError(`job ${jobId} still ${job.state} after ${timeoutMs / 1000} s (--timeout)`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } finally {
    display.end();
  }
}

/** Verifies the downloaded bundle with the keys the service lists, the pinned operator key and our nonce. */
async function verifyDownloaded(
  client: ServiceClient,
  bundleText: string,
  nonce: string,
  options: QueryOptions,
): Promise<number> {
  const report: Report = {
    json: options.json === true,
    output: { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
  };
  try {
    const bundle = parseStrictJson(bundleText);
    const { keys, keysManifest } = keysFromCircuitListing(
      await client.getJson<unknown>("/v1/circuits"),
      "GET /v1/circuits",
    );
    const result = verifyWithSdk(bundle, {
      keys,
      keysManifest,
      operatorKey: options.operatorKey,
      expectedNonce: nonce,
      allowInsecureKeys: options.allowInsecureKeys === true,
    });
    return writeResult(result, report);
  } catch (error) {
    if (error instanceof InsecureKeysError) return writeInsecureRefusal(error, report);
    if (error instanceof VerifierInputError) return writeMalformed(error, report);
    if (error instanceof JsonTextError)
      return writeMalformed(new VerifierInputError("bundle", error.message), report);
    throw error;
  }
}

function credentials(options: QueryOptions) {
  const clientSecret = options.clientSecret ?? process.env.ZKTALLY_CLIENT_SECRET;
  if (clientSecret === undefined || clientSecret === "") {
    throw new UsageError("query needs the client secret: --client-secret SECRET or ZKTALLY_CLIENT_SECRET");
  }
  return { clientId: options.clientId, clientSecret };
}

/** The endpoint and body for `--query`: one query, or an array of them answered in one pass. */
function submission(query: unknown, options: QueryOptions, nonce: string) {
  const epoch = options.epoch === undefined ? {} : { epoch: positiveNumber(options.epoch, "--epoch") };
  const common = { datasetId: options.dataset, nonce, ...epoch };
  return Array.isArray(query)
    ? { path: "/v1/passes", body: { ...common, queries: query } }
    : { path: "/v1/queries", body: { ...common, query } };
}

export async function runQuery(options: QueryOptions): Promise<number> {
  const query = await queryArgument(options.query);
  const pollMs = positiveNumber(options.pollMs, "--poll-ms");
  const timeoutMs = positiveNumber(options.timeout, "--timeout") * 1000;
  const client = new ServiceClient(options.url, credentials(options));
  const nonce = randomNonce();
  const { path, body } = submission(query, options, nonce);
  try {
    const submitted = await client.postJson<{ jobId: string; names?: NamedKey[] }>(path, body);
    if (submitted.names !== undefined && !options.json) {
      // The statement holds keys: say which name became which (the operator's hash, not checkable here).
      process.stderr.write(
        `names asked, as the operator hashed them: ${describeNamedKeys(submitted.names)}\n`,
      );
    }
    const job = await followJob(client, submitted.jobId, pollMs, timeoutMs);
    if (job.state === "failed") {
      process.stderr.write(
        `zktally query: job ${job.jobId} failed: ${job.error?.code ?? "error"}: ${job.error?.message ?? ""}\n`,
      );
      return VERIFY_EXIT.invalid;
    }
    const bundleText = await (
      await client.request(`/v1/jobs/${encodeURIComponent(job.jobId)}/bundle`)
    ).text();
    const out = options.out ?? `${job.jobId}.bundle.json`;
    await writeFile(out, bundleText);
    if (!options.json) process.stderr.write(`bundle saved to ${out} (nonce ${nonce})\n`);
    return await verifyDownloaded(client, bundleText, nonce, options);
  } catch (error) {
    if (!(error instanceof QueryClientError)) throw error;
    process.stderr.write(`zktally query: ${error.message}\n`);
    return VERIFY_EXIT.usage;
  }
}
