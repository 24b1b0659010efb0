/**
 * @module audit/monitor
 *
 * What a transparency-log monitor decides (`zktally audit monitor URL`, like a Certificate Transparency
 * monitor): given the signed head it saw last and what the log serves now (signed head, consistency proof
 * from the old size, every entry), `checkLogUpdate` reports
 *
 * - `bad-signature`: the new head is not signed by the pinned log key;
 * - `truncated`: the new tree is smaller than one the monitor saw signed;
 * - `forked`: a different signed root for a size the monitor saw (two histories under one key);
 * - `rewritten`: the new tree does not extend the old one (the consistency proof fails), or the served
 *   entries do not hash to the signed root (entries edited, dropped, inserted or reordered).
 *
 * Only `ok` moves the monitor's state forward; on a problem it keeps the last good head as evidence (two
 * heads signed by one key that contradict each other prove misbehaviour to anyone).
 */
import { canonicalJson } from "../util/canonical-json.ts";
import { leafHash, toHex } from "./merkle.ts";
import { normaliseLogKey, verifyTreeHead } from "./sth.ts";
import { parseTreeHead, type SignedTreeHead } from "./types.ts";
import { verifyAuditLog, verifyHeadConsistency } from "./verify.ts";

export type MonitorProblem = "bad-signature" | "truncated" | "forked" | "rewritten";

export type MonitorReport =
  | { readonly ok: true; readonly treeSize: number; readonly rootHash: string; readonly newEntries: number }
  | { readonly ok: false; readonly problem: MonitorProblem; readonly reason: string };

export interface LogSnapshot {
  /** The head the log serves now. */
  readonly treeHead: unknown;
  /** RFC 6962 consistency proof from the previously seen size to the new head's (hex). */
  readonly consistency?: unknown;
  /** Every entry of the new tree, in order, as served (objects whose canonical JSON is the leaf). */
  readonly entries: readonly unknown[];
}

/** Checks what a log serves now against the head the monitor saw before (none on the first run). */
export function checkLogUpdate(
  previous: SignedTreeHead | undefined,
  snapshot: LogSnapshot,
  logKey: string,
): MonitorReport {
  const key = normaliseLogKey(logKey);
  if (!verifyTreeHead(snapshot.treeHead, key)) {
    return problem("bad-signature", "the served tree head is malformed or not signed by the pinned log key");
  }
  const head = parseTreeHead(snapshot.treeHead);
  if (previous !== undefined) {
    const history = checkExtends(previous, head, snapshot.consistency, key);
    if (history) return history;
  }
  const entries = snapshot.entries.map((entry, index) => {
    const text = canonicalJson(entry);
    return { index, entry: text, leafHash: toHex(leafHash(Buffer.from(text, "utf8"))) };
  });
  if (entries.length !== head.treeSize) {
    return problem(
      "rewritten",
      `the log serves ${entries.length} entries for a signed tree of ${head.treeSize}`,
    );
  }
  const replay = verifyAuditLog(entries, [head], key);
  if (!replay.ok) {
    return problem(
      "rewritten",
      `the served entries do not hash to the signed root (entry ${replay.index}: ${replay.reason})`,
    );
  }
  return {
    ok: true,
    treeSize: head.treeSize,
    rootHash: head.rootHash,
    newEntries: head.treeSize - (previous?.treeSize ?? 0),
  };
}

function checkExtends(
  previous: SignedTreeHead,
  head: SignedTreeHead,
  consistency: unknown,
  key: string,
): MonitorReport | undefined {
  if (head.treeSize < previous.treeSize) {
    return problem(
      "truncated",
      `the log shrank from ${previous.treeSize} entries (seen signed) to ${head.treeSize}`,
    );
  }
  if (head.treeSize === previous.treeSize) {
    if (head.rootHash === previous.rootHash) return undefined;
    return problem("forked", `two different signed roots for tree size ${head.treeSize}`);
  }
  const checked = verifyHeadConsistency(previous, head, consistency ?? [], key);
  if (!checked.ok) {
    return problem(
      "rewritten",
      `the tree of ${head.treeSize} entries does not extend the signed tree of ${previous.treeSize} the monitor saw (${checked.reason})`,
    );
  }
  return undefined;
}

function problem(kind: MonitorProblem, reason: string): MonitorReport {
  return { ok: false, problem: kind, reason };
}
