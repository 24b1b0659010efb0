/**
 * @module audit/verify
 *
 * Offline checks of the audit log for auditors and partners, needing only the log's public key:
 *
 * - `verifyAuditLog(entries, heads, logKey)` recomputes every leaf and the root at every signed head size,
 *   and reports the first entry index where the stored log stops matching: an edited row (its leaf hash or
 *   a signed root changes), a deleted row (an index gap), reordered or inserted rows (an entry whose own
 *   `index` field differs from its position, or a signed root that no longer matches), truncation (a signed
 *   head larger than the log), entries no signed head covers, heads with bad signatures, and heads signed by a key not in force for
 *   their size: `logKey` is the log's pinned FIRST key, and the chain of log key rotations recorded in the
 *   log (audit/log-keys) says which key signs which sizes, so old heads keep verifying with the old key,
 *   a head of a key no rotation announces is rejected, and so is one a retired key signed later. A signed head
 *   that matches the recomputed prefix root is exactly what an RFC 6962 consistency proof from that head to
 *   the current log establishes, so old heads held elsewhere (receipts, published heads) pin history.
 * - `verifyReceipt(receipt, logKey)`: what a partner runs on a receipt.
 * - `verifyHeadConsistency(oldHead, newHead, proof, logKey)`: what a monitor holding two heads runs.
 *
 * Security caveats: the stored heads come from the same database as the entries; an attacker who can
 * write the file can delete rows *and* the heads that cover them. Truncation is then only visible against
 * heads kept outside the database, so auditors should pass every head they hold (partners' receipts, the
 * operator's published heads) and pin `logKey` out of band rather than reading it from the database.
 */
import { canonicalJson } from "../util/canonical-json.ts";
import { headKeyProblem, type LogKeyRotation, type LogKeySpan, logKeySchedule } from "./log-keys.ts";
import {
  EMPTY_ROOT,
  equalBytes,
  fromHex,
  leafHash,
  nodeHash,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";
import { normaliseLogKey, verifyTreeHead } from "./sth.ts";
import type { RawEntryRow } from "./store.ts";
import {
  AuditFormatError,
  isPlainObject,
  parseEntry,
  parseEntryText,
  parseTreeHead,
  type SignedTreeHead,
  type StoredEntry,
} from "./types.ts";

export type LogVerification =
  | {
      readonly ok: true;
      readonly treeSize: number;
      readonly rootHash: string;
      readonly headsChecked: number;
      /** The key in force at the end of the log (the pinned first key unless the log rotated). */
      readonly logKey: string;
      /** The log's key rotations, oldest first. */
      readonly rotations: readonly LogKeyRotation[];
    }
  | { readonly ok: false; readonly index: number; readonly reason: string };

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface VerifyLogOptions {
  /**
   * Every entry must be covered by a signed head (default true: the log signs a head on every append, so an
   * uncovered entry was written by someone without the key). Set false when `heads` holds only old heads.
   */
  readonly requireCoverage?: boolean;
}

interface Failure {
  readonly index: number;
  readonly reason: string;
}

/** Checks the whole log against its signed heads; see the module header for what is detected. */
export function verifyAuditLog(
  entries: readonly (StoredEntry | RawEntryRow)[],
  heads: readonly unknown[],
  logKey: string,
  options: VerifyLogOptions = {},
): LogVerification {
  const key = normaliseLogKey(logKey);
  if (!Array.isArray(entries)) throw new TypeError("verifyAuditLog: entries must be an array");
  if (!Array.isArray(heads)) throw new TypeError("verifyAuditLog: heads must be an array");
  const schedule = logKeySchedule(entries, key);
  const { valid, failure: headFailure } = checkHeads(heads, schedule.spans);
  const replay = replayEntries(entries, valid, options.requireCoverage ?? true);
  const failure = earliest(earliest(schedule.failure, headFailure), replay.failure);
  if (failure) return { ok: false, ...failure };
  return {
    ok: true,
    treeSize: entries.length,
    rootHash: replay.rootHash,
    headsChecked: valid.length,
    logKey: (schedule.spans.at(-1) as LogKeySpan).logKey,
    rotations: schedule.rotations,
  };
}

/** Checks a receipt: signed head, entry shape, leaf hash and inclusion proof. */
export function verifyReceipt(receipt: unknown, logKey: string): CheckResult {
  const key = normaliseLogKey(logKey);
  if (!isPlainObject(receipt)) return fail("receipt is not an object");
  const fields = Object.keys(receipt).sort().join(",");
  if (fields !== "entry,inclusion,index,leafHash,treeHead") return fail(`receipt has fields ${fields}`);
  let head: SignedTreeHead;
  try {
    head = parseTreeHead(receipt.treeHead);
  } catch (error) {
    return fail(`receipt ${(error as Error).message}`);
  }
  if (!verifyTreeHead(head, key)) return fail("tree head signature is invalid or made by another log key");
  const { index } = receipt;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0 || index >= head.treeSize) {
    return fail(`index must be an integer below the tree size ${head.treeSize}`);
  }
  let leaf: Uint8Array;
  try {
    const entry = parseEntry(receipt.entry);
    if (entry.index !== index) return fail(`entry says it is entry ${entry.index}, receipt says ${index}`);
    leaf = leafHash(Buffer.from(canonicalJson(entry), "utf8"));
  } catch (error) {
    return fail(`receipt ${(error as Error).message}`);
  }
  if (receipt.leafHash !== toHex(leaf)) return fail("leafHash does not match the entry");
  const proof = hexList(receipt.inclusion);
  if (!proof) return fail("inclusion must be an array of 32-byte hex hashes");
  const root = fromHex(head.rootHash) as Uint8Array;
  if (!verifyInclusion(leaf, index, head.treeSize, proof, root)) {
    return fail(`inclusion proof does not lead to the signed root of size ${head.treeSize}`);
  }
  return { ok: true };
}

/**
 * Checks that `newHead`'s tree extends `oldHead`'s with a hex consistency proof, the old head signed by
 * `logKey` and the new one by `newLogKey` (default: the same key; another one after a log key rotation).
 */
export function verifyHeadConsistency(
  oldHead: unknown,
  newHead: unknown,
  proof: unknown,
  logKey: string,
  newLogKey: string = logKey,
): CheckResult {
  const key = normaliseLogKey(logKey);
  if (!verifyTreeHead(oldHead, key)) return fail("old tree head is malformed or its signature is invalid");
  if (!verifyTreeHead(newHead, normaliseLogKey(newLogKey))) {
    return fail("new tree head is malformed or its signature is invalid");
  }
  const older = oldHead as SignedTreeHead;
  const newer = newHead as SignedTreeHead;
  if (older.treeSize > newer.treeSize) return fail("old tree head is larger than the new one");
  const hashes = hexList(proof);
  if (!hashes) return fail("proof must be an array of 32-byte hex hashes");
  const ok = verifyConsistency(
    older.treeSize,
    newer.treeSize,
    fromHex(older.rootHash) as Uint8Array,
    fromHex(newer.rootHash) as Uint8Array,
    hashes,
  );
  return ok
    ? { ok: true }
    : fail(
        `the tree of size ${newer.treeSize} is not an extension of the signed tree of size ${older.treeSize}`,
      );
}

/** Each head must be signed by a key in force for its size (audit/log-keys), with a valid signature. */
function checkHeads(
  heads: readonly unknown[],
  spans: readonly LogKeySpan[],
): { valid: SignedTreeHead[]; failure?: Failure } {
  const valid: SignedTreeHead[] = [];
  let failure: Failure | undefined;
  heads.forEach((candidate, position) => {
    let head: SignedTreeHead;
    try {
      head = parseTreeHead(candidate, `heads[${position}]`);
    } catch (error) {
      failure = earliest(failure, { index: 0, reason: `tree head ${(error as Error).message}` });
      return;
    }
    const keyProblem = headKeyProblem(head, spans);
    if (keyProblem !== undefined || !verifyTreeHead(head, head.logKey)) {
      const reason = `tree head heads[${position}] (size ${head.treeSize}) ${keyProblem ?? "has an invalid signature"}`;
      failure = earliest(failure, { index: Math.max(0, head.treeSize - 1), reason });
      return;
    }
    valid.push(head);
  });
  valid.sort((a, b) => a.treeSize - b.treeSize);
  return failure ? { valid, failure } : { valid };
}

/** Recomputes leaves and prefix roots in one pass, stopping at the first entry that breaks. */
function replayEntries(
  entries: readonly (StoredEntry | RawEntryRow)[],
  heads: readonly SignedTreeHead[],
  requireCoverage: boolean,
): { rootHash: string; failure?: Failure } {
  const range = new CompactRange();
  let next = 0; // position in the sorted heads
  let covered = 0; // largest size confirmed by a signed head
  const checkHeadsAt = (size: number): Failure | undefined => {
    const root = toHex(range.root());
    const roots = new Set<string>();
    for (; next < heads.length && (heads[next] as SignedTreeHead).treeSize === size; next++) {
      roots.add((heads[next] as SignedTreeHead).rootHash);
    }
    if (roots.size === 0) return undefined;
    if (roots.size > 1) return fork(size);
    if (!roots.has(root)) return mismatch(covered, size);
    covered = size;
    return undefined;
  };
  const atZero = checkHeadsAt(0);
  if (atZero) return { rootHash: toHex(EMPTY_ROOT), failure: atZero };
  for (let position = 0; position < entries.length; position++) {
    const problem = checkEntry(entries[position], position);
    if (!(problem instanceof Uint8Array)) return { rootHash: "", failure: problem };
    range.push(problem);
    const failure = checkHeadsAt(position + 1);
    if (failure) return { rootHash: "", failure };
  }
  const rootHash = toHex(range.root());
  const last = heads[heads.length - 1];
  if (last && last.treeSize > entries.length) {
    const reason = `the log holds ${entries.length} entries but a signed tree head covers ${last.treeSize}: entries from ${entries.length} on were deleted (truncated)`;
    return { rootHash, failure: { index: entries.length, reason } };
  }
  if (requireCoverage && covered < entries.length) {
    const reason = `entries from ${covered} on are not covered by any signed tree head (written without the log key)`;
    return { rootHash, failure: { index: covered, reason } };
  }
  return { rootHash };
}

/** The entry's leaf hash, or why the entry at `position` is wrong. */
function checkEntry(row: StoredEntry | RawEntryRow | undefined, position: number): Uint8Array | Failure {
  const normal = normaliseRow(row);
  if (!normal) return { index: position, reason: `entry ${position} is not a stored entry row` };
  if (normal.index !== position) {
    const reason =
      normal.index > position
        ? `entry ${position} is missing (deleted): the next stored entry has index ${normal.index}`
        : `entry at position ${position} is stored with index ${normal.index} (duplicated or out of order)`;
    return { index: position, reason };
  }
  let claimed: number;
  const text = typeof normal.text === "string" ? normal.text : "";
  try {
    claimed = parseEntryText(normal.text).index;
  } catch (error) {
    const detail = error instanceof AuditFormatError ? error.message : "unreadable";
    return { index: position, reason: `entry ${position} is malformed (${detail})` };
  }
  if (claimed !== position) {
    return {
      index: position,
      reason: `entry stored at ${position} says it is entry ${claimed} (reordered, moved or inserted)`,
    };
  }
  const leaf = leafHash(Buffer.from(text, "utf8"));
  if (normal.leaf !== undefined && !equalBytes(leaf, normal.leaf)) {
    return { index: position, reason: `entry ${position} does not match its stored leaf hash (edited)` };
  }
  return leaf;
}

function normaliseRow(
  row: unknown,
): { index: number; text: unknown; leaf: Uint8Array | undefined } | undefined {
  if (typeof row !== "object" || row === null) return undefined;
  const record = row as Record<string, unknown>;
  if ("idx" in record) {
    const leaf = record.leaf_hash instanceof Uint8Array ? record.leaf_hash : new Uint8Array(0);
    return { index: Number(record.idx), text: record.entry, leaf };
  }
  if ("index" in record) {
    const leaf = record.leafHash === undefined ? undefined : (fromHex(record.leafHash) ?? new Uint8Array(0));
    return { index: Number(record.index), text: record.entry, leaf };
  }
  return undefined;
}

function mismatch(covered: number, size: number): Failure {
  const span = covered === size - 1 ? `entry ${covered}` : `an entry in [${covered}, ${size - 1}]`;
  return {
    index: covered,
    reason: `${span} differs from what the signed tree head of size ${size} commits to (edited, inserted, deleted or reordered; the log is not consistent with that head)`,
  };
}

/** Two validly signed heads of one size with different roots: only a key holder can have made both. */
function fork(size: number): Failure {
  return {
    index: 0,
    reason: `the log key signed two different trees of size ${size} (a fork: history was rewritten by a key holder; some entry in [0, ${size - 1}] differs)`,
  };
}

function earliest(a: Failure | undefined, b: Failure | undefined): Failure | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.index < a.index ? b : a;
}

function hexList(value: unknown): Uint8Array[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: Uint8Array[] = [];
  for (const item of value) {
    const bytes = typeof item === "string" && /^[0-9a-f]*$/.test(item) ? fromHex(item) : undefined;
    if (!bytes) return undefined;
    out.push(bytes);
  }
  return out;
}

function fail(reason: string): CheckResult {
  return { ok: false, reason };
}

/** The right-spine stack of complete subtrees of a growing tree (RFC 9162 "compact range" from 0). */
class CompactRange {
  readonly #stack: { hash: Uint8Array; size: number }[] = [];

  push(leaf: Uint8Array): void {
    let node = { hash: leaf, size: 1 };
    for (let top = this.#stack.at(-1); top && top.size === node.size; top = this.#stack.at(-1)) {
      this.#stack.pop();
      node = { hash: nodeHash(top.hash, node.hash), size: node.size * 2 };
    }
    this.#stack.push(node);
  }

  root(): Uint8Array {
    if (this.#stack.length === 0) return EMPTY_ROOT;
    let root = (this.#stack.at(-1) as { hash: Uint8Array }).hash;
    for (let i = this.#stack.length - 2; i >= 0; i--)
      root = nodeHash((this.#stack[i] as { hash: Uint8Array }).hash, root);
    return root;
  }
}
