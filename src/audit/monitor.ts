/**
 * @module audit/monitor
 *
 * What a transparency-log monitor decides (`zktally audit monitor URL`, like a Certificate Transparency
 * monitor): given the signed head it saw last and what the log serves now (signed head, consistency proof
 * from the old size, every entry), `checkLogUpdate` reports
 *
 * - `bad-signature`: the new head is malformed, its signature is invalid, or it is signed by a retired key
 *   beyond the sizes that key was in force for;
 * - `unannounced-key`: the new head is signed by a key no log key rotation announces (audit/log-keys): the
 *   monitor pins the log's first key and follows the rotations recorded in the log from it;
 * - `truncated`: the new tree is smaller than one the monitor saw signed;
 * - `forked`: a different signed root for a size the monitor saw (two histories under one key);
 * - `rewritten`: the new tree does not extend the old one (the consistency proof fails), or the served
 *   entries do not hash to the signed root (entries edited, dropped, inserted or reordered).
 *
 * Only `ok` moves the monitor's state forward; on a problem it keeps the last good head as evidence (two
 * heads signed by one key that contradict each other prove misbehaviour to anyone).
 */
import { canonicalJson } from "../util/canonical-json.ts";
import { headKeyProblem, type LogKeyRotation, type LogKeySpan, logKeySchedule } from "./log-keys.ts";
import { leafHash, toHex } from "./merkle.ts";
import { normaliseLogKey, verifyTreeHead } from "./sth.ts";
import { parseTreeHead, type SignedTreeHead, type StoredEntry } from "./types.ts";
import { verifyAuditLog, verifyHeadConsistency } from "./verify.ts";

export type MonitorProblem = "bad-signature" | "unannounced-key" | "truncated" | "forked" | "rewritten";

export type MonitorReport =
  | {
      readonly ok: true;
      readonly treeSize: number;
      readonly rootHash: string;
      readonly newEntries: number;
      /** The key that signed the head now served. */
      readonly logKey: string;
      /** Log key rotations among the new entries. */
      readonly rotations: readonly LogKeyRotation[];
    }
  | { readonly ok: false; readonly problem: MonitorProblem; readonly reason: string };

export interface LogSnapshot {
  /** The head the log serves now. */
  readonly treeHead: unknown;
  /** RFC 6962 consistency proof from the previously seen size to the new head's (hex). */
  readonly consistency?: unknown;
  /** Every entry of the new tree, in order, as served (objects whose canonical JSON is the leaf). */
  readonly entries: readonly unknown[];
}

/**
 * Checks what a log serves now against the head the monitor saw before (none on the first run). `logKey`
 * is the log's pinned first key.
 */
export function checkLogUpdate(
  previous: SignedTreeHead | undefined,
  snapshot: LogSnapshot,
  logKey: string,
): MonitorReport {
  const key = normaliseLogKey(logKey);
  const entries = snapshot.entries.map(storedEntry);
  const schedule = logKeySchedule(entries, key);
  if (schedule.failure) {
    return problem("rewritten", `the served entries hold an invalid rotation (${schedule.failure.reason})`);
  }
  const signed = checkSigned(snapshot.treeHead, schedule.spans);
  if (!("treeSize" in signed)) return signed;
  const head = signed;
  if (previous !== undefined) {
    const history = checkExtends(previous, head, snapshot.consistency);
    if (history) return history;
  }
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
  const seen = previous?.treeSize ?? 0;
  return {
    ok: true,
    treeSize: head.treeSize,
    rootHash: head.rootHash,
    newEntries: head.treeSize - seen,
    logKey: head.logKey,
    rotations: replay.rotations.filter((rotation) => rotation.index >= seen),
  };
}

function storedEntry(entry: unknown, index: number): StoredEntry {
  const text = canonicalJson(entry);
  return { index, entry: text, leafHash: toHex(leafHash(Buffer.from(text, "utf8"))) };
}

/** The served head when it is well formed and signed by the key in force for its size; else the problem. */
function checkSigned(
  served: unknown,
  spans: readonly LogKeySpan[],
): SignedTreeHead | Extract<MonitorReport, { ok: false }> {
  let head: SignedTreeHead;
  try {
    head = parseTreeHead(served);
  } catch (error) {
    return problem("bad-signature", `the served tree head is malformed (${(error as Error).message})`);
  }
  const keyProblem = headKeyProblem(head, spans);
  if (keyProblem !== undefined) {
    const announced = spans.some((span) => span.logKey === head.logKey);
    return problem(announced ? "bad-signature" : "unannounced-key", `the served tree head ${keyProblem}`);
  }
  if (!verifyTreeHead(head, head.logKey)) {
    return problem("bad-signature", "the served tree head's signature is invalid");
  }
  return head;
}

function checkExtends(
  previous: SignedTreeHead,
  head: SignedTreeHead,
  consistency: unknown,
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
  const checked = verifyHeadConsistency(previous, head, consistency ?? [], previous.logKey, head.logKey);
  if (!checked.ok) {
    return problem(
      "rewritten",
      `the tree of ${head.treeSize} entries does not extend the signed tree of ${previous.treeSize} the monitor saw (${checked.reason})`,
    );
  }
  return undefined;
}

function problem(kind: MonitorProblem, reason: string): Extract<MonitorReport, { ok: false }> {
  return { ok: false, problem: kind, reason };
}
