/**
 * @module cli/commands/audit-monitor
 *
 * `zktally audit monitor URL [--state FILE] [--log-key HEX] [--json]` follows a service's public
 * transparency log (`/v1/transparency/...`) like a Certificate Transparency monitor: it fetches the signed
 * tree head, the consistency proof from the head it saw last (kept in `--state`, default
 * `./zktally-monitor.json`) and every entry, and reports a rewritten, truncated or forked history
 * (audit/monitor.ts). Exit 0 consistent (the state file moves to the new head), 1 a problem (the state keeps
 * the last good head as evidence), 2 bad usage or an unreachable log.
 *
 * Security caveats: pin the log's published FIRST key with `--log-key`; the monitor follows the log key
 * rotations recorded in the log from it and reports a head signed by a key none announces
 * (`unannounced-key`). Without `--log-key` (and without a state file) the first run trusts the first key the
 * log serves (trust on first use), and a warning says so. Text from the log
 * is printed with control characters escaped.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { checkLogUpdate, type MonitorReport } from "../../audit/monitor.ts";
import { parseTreeHead, type SignedTreeHead } from "../../audit/types.ts";
import { HEX32_ANY_CASE } from "../../core/formats.ts";
import { writeFileAtomic } from "../../storage/atomic-write.ts";
import { UsageError } from "../command.ts";
import { type Output, printable } from "../verify-command.ts";

const PAGE = 1000;

/** The log cannot be fetched or its answers are not JSON: exit 2. */
export class MonitorFetchError extends Error {
  override name = "MonitorFetchError";
}

interface MonitorState {
  readonly url: string;
  readonly logKey: string;
  readonly treeHead: SignedTreeHead;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" } });
  } catch (error) {
    throw new MonitorFetchError(`cannot fetch ${url}: ${(error as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) throw new MonitorFetchError(`${url} answered ${response.status}`);
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new MonitorFetchError(`${url} did not answer JSON`);
  }
}

async function readState(file: string): Promise<MonitorState | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(await readFile(file, "utf8")) as MonitorState;
    return { url: value.url, logKey: value.logKey, treeHead: parseTreeHead(value.treeHead) };
  } catch (error) {
    throw new UsageError(`--state ${file}: not a monitor state file (${(error as Error).message})`);
  }
}

/** Every entry of a tree of `size`, paged. */
async function fetchEntries(base: string, size: number): Promise<unknown[]> {
  const entries: unknown[] = [];
  while (entries.length < size) {
    const page = await getJson(`${base}/v1/transparency/entries?from=${entries.length}&limit=${PAGE}`);
    const items = page.entries as { entry: unknown }[] | undefined;
    if (!Array.isArray(items) || items.length === 0) break;
    entries.push(...items.map((item) => item.entry));
  }
  return entries.slice(0, size);
}

/** `zktally audit monitor`; returns the exit code. */
export async function runAuditMonitor(args: string[], output: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      state: { type: "string", default: "zktally-monitor.json" },
      "log-key": { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError("audit monitor takes exactly one URL (the service)");
  const base = (positionals[0] as string).replace(/\/+$/, "");
  const pinned = values["log-key"];
  if (pinned !== undefined && !HEX32_ANY_CASE.test(pinned))
    throw new UsageError("--log-key must be 32 bytes of hex");
  const state = await readState(values.state);
  const served = await getJson(`${base}/v1/transparency/tree-head`);
  // The chain of log keys starts at the log's first key; rotations recorded in the log lead to the current one.
  const logKey = (pinned ?? state?.logKey ?? String(served.firstLogKey ?? served.logKey)).toLowerCase();
  if (pinned === undefined && state === undefined) {
    output.err(
      "warning: trusting the log key the log serves (first use); pin the published key with --log-key\n",
    );
  }
  const head = served.treeHead as { treeSize?: unknown };
  const size = typeof head?.treeSize === "number" ? head.treeSize : 0;
  const previous = state?.treeHead;
  const consistency =
    previous !== undefined && size > previous.treeSize
      ? (await getJson(`${base}/v1/transparency/consistency?from=${previous.treeSize}&to=${size}`)).proof
      : undefined;
  const report = checkLogUpdate(
    previous,
    { treeHead: served.treeHead, consistency, entries: await fetchEntries(base, size) },
    logKey,
  );
  if (report.ok) {
    const next: MonitorState = { url: base, logKey, treeHead: parseTreeHead(served.treeHead) };
    await writeFileAtomic(values.state, `${JSON.stringify(next, null, 2)}\n`);
  }
  writeReport(report, values.json, output);
  return report.ok ? 0 : 1;
}

function writeReport(report: MonitorReport, json: boolean, output: Output): void {
  if (json) {
    output.out(`${JSON.stringify(report)}\n`);
  } else if (report.ok) {
    output.out(
      `OK  ${report.treeSize} entries, root ${report.rootHash} (${report.newEntries} new, consistent with what was seen)\n`,
    );
    for (const rotation of report.rotations) {
      output.out(
        `    log key rotated at entry ${rotation.index}: ${rotation.oldLogKey} -> ${rotation.newLogKey}\n`,
      );
    }
  } else {
    output.out(`${report.problem.toUpperCase()}  ${printable(report.reason)}\n`);
  }
}
