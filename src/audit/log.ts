/**
 * @module audit/log
 *
 * `AuditLog`: an RFC 6962 Merkle log of request decisions in SQLite (tables in audit/store). Each `append`
 * stores the entry (canonical JSON of the event plus index and timestamp), its leaf hash and the complete
 * subtree hashes it completes, signs a tree head for the new size, stores it and returns a receipt, all in
 * O(log n) work and in one (nested) transaction on the caller's connection.
 *
 * Atomicity: `append` is synchronous and touches only the given `db`, so a caller can do
 * `db.transaction(() => { decide(); log.append(event); })()`: if any write fails, `append` throws, the
 * caller's transaction rolls back and the request must be refused. A receipt (and its signed head) must not
 * be released before the enclosing transaction commits: a head for a rolled-back entry would contradict the
 * log and look like a fork.
 *
 * Security caveats: the log fails closed. Before extending or proving, it checks that its cached tree
 * matches its latest signed head and that every stored row it reads agrees with its hashes; a mismatch
 * throws `AuditIntegrityError` instead of signing over tampered state. These checks are local sanity
 * checks; the actual guarantee is that anyone holding a signed head can detect a rewrite (audit/verify).
 * The signing key stays in memory as a node:crypto `KeyObject`. Events are screened for secrets
 * (audit/types `validateEvent`). `rotateKey` replaces the key without downtime; the rotation is an entry of
 * the log, so verifiers follow the chain of keys from the first one (audit/log-keys).
 */

import type Database from "better-sqlite3";
import { NotFoundError } from "../util/errors.ts";
import { LOG_KEY_ROTATION_ACTION, logKeySchedule, rotationEvent } from "./log-keys.ts";
import {
  consistencyProofFrom,
  EMPTY_ROOT,
  equalBytes,
  inclusionProofFrom,
  leafHash,
  nodeHash,
  rangeRootFrom,
  type SubtreeHasher,
  toHex,
} from "./merkle.ts";
import { importLogSigner, type LogKeyPair, signTreeHead } from "./sth.ts";
import {
  ensureAuditSchema,
  type RawEntryRow,
  readHeads,
  readLatestHead,
  readLogSize,
  readStoredLogKeys,
  readStoredRotations,
  storeRotatedLogKey,
  toHead,
  toStoredEntry,
} from "./store.ts";
import {
  type AuditEntry,
  type AuditEvent,
  AuditIntegrityError,
  type AuditReceipt,
  entryText,
  parseEntryText,
  type SignedLogKeyRotation,
  type SignedTreeHead,
  type StoredEntry,
  validateEvent,
} from "./types.ts";

export interface AuditLogOptions {
  /** Clock in ms since the Unix epoch (tests inject a fixed one). */
  readonly now?: () => number;
}

export interface EntryQuery {
  readonly partner?: string | null;
  readonly requestId?: string;
  /** Only entries with index > afterIndex (for paging). */
  readonly afterIndex?: number;
  /** At most this many (default 100, max 1000). */
  readonly limit?: number;
}

type Statement = Database.Statement;

/** What `rotateKey` did: the rotation entry's receipt (under the old key) and the new key's first head. */
export interface LogKeyRotated {
  readonly oldLogKey: string;
  readonly newLogKey: string;
  readonly receipt: AuditReceipt;
  readonly treeHead: SignedTreeHead;
}

export class AuditLog {
  readonly #db: Database.Database;
  #keys: LogKeyPair;
  /** Every key this log was signed with, first one first (the last is `#keys`). */
  #logKeys: string[] = [];
  readonly #now: () => number;
  readonly #sql: Record<
    "insertEntry" | "insertNode" | "insertHead" | "node" | "entry" | "entries" | "headAt" | "find",
    Statement
  >;
  readonly #appendTransaction: (event: AuditEvent) => AuditReceipt;

  constructor(db: Database.Database, signer: { secretKey: Uint8Array }, options: AuditLogOptions = {}) {
    if (typeof (db as { prepare?: unknown } | null)?.prepare !== "function") {
      throw new TypeError("AuditLog: db must be a better-sqlite3 Database");
    }
    this.#db = db;
    this.#keys = importLogSigner(signer);
    this.#now = options.now ?? Date.now;
    ensureAuditSchema(db);
    this.#bindLogKey();
    this.#sql = {
      insertEntry: db.prepare(
        "INSERT INTO audit_entries (idx, entry, leaf_hash, partner, request_id) VALUES (?, ?, ?, ?, ?)",
      ),
      insertNode: db.prepare("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"),
      insertHead: db.prepare(
        "INSERT INTO audit_heads (tree_size, root_hash, timestamp, log_key, signature) VALUES (?, ?, ?, ?, ?)",
      ),
      node: db.prepare("SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?").pluck(),
      entry: db.prepare("SELECT idx, entry, leaf_hash FROM audit_entries WHERE idx = ?"),
      entries: db.prepare(
        "SELECT idx, entry, leaf_hash FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
      ),
      headAt: db.prepare(
        "SELECT tree_size, root_hash, timestamp, log_key, signature FROM audit_heads WHERE tree_size = ? ORDER BY id DESC LIMIT 1",
      ),
      find: db.prepare(
        `SELECT idx, entry, leaf_hash FROM audit_entries
         WHERE (@byPartner = 0 OR partner IS @partner) AND (@requestId IS NULL OR request_id = @requestId)
           AND idx > @after
         ORDER BY idx LIMIT @limit`,
      ),
    };
    this.#appendTransaction = db.transaction((event: AuditEvent) => this.#appendNow(event));
  }

  /** The Ed25519 public key (hex) that signs the log's heads now. */
  get logKey(): string {
    return this.#keys.logKey;
  }

  /** The key the log was created with: what partners and auditors pin (later keys follow by rotation). */
  get firstLogKey(): string {
    return this.#logKeys[0] as string;
  }

  /**
   * The log's key rotations with the old keys' signatures, oldest first, as its rotation entries record them
   * and checked from the first key (`GET /v1/transparency/log-keys`: what the SDK follows for receipts).
   */
  keyRotations(): readonly SignedLogKeyRotation[] {
    const rows = readStoredRotations(this.#db).flatMap(({ index }) => this.entries(index, index + 1));
    return logKeySchedule(rows, this.firstLogKey).rotations;
  }

  /**
   * Rotates the signing key without downtime (audit/log-keys): appends a rotation entry naming the new key,
   * signed by the current one and covered by a head the current key signs, then signs a head of the same
   * size with the new key, which signs everything after. `within` runs in the same transaction (the caller
   * persists the new secret there). Do not call inside a caller's transaction: the key switches on return.
   */
  rotateKey(
    signer: { secretKey: Uint8Array },
    subject: { readonly partner: string | null; readonly requestId: string },
    within: () => void = () => {},
  ): LogKeyRotated {
    const next = importLogSigner(signer);
    if (this.#logKeys.includes(next.logKey)) {
      throw new RangeError("rotateKey: the new log key was already used by this log (keys are never reused)");
    }
    const rotated = this.#db.transaction(() => {
      const index = this.size();
      const event = validateEvent(rotationEvent(this.#keys, next.logKey, index, subject));
      const receipt = this.#appendNow(event);
      storeRotatedLogKey(this.#db, index, next.logKey);
      const treeHead = this.#signAndStore(index + 1, this.#hasher()(0, index + 1), this.#now(), next);
      within();
      return { oldLogKey: this.#keys.logKey, newLogKey: next.logKey, receipt, treeHead };
    })();
    this.#keys = next;
    this.#logKeys.push(next.logKey);
    return rotated;
  }

  /** Number of entries. */
  size(): number {
    return readLogSize(this.#db);
  }

  /**
   * Appends `event` and returns its receipt against the new signed head. Synchronous; throws TypeError for a
   * malformed or secret-looking event or an accepted log key rotation (`rotateKey` appends those) before any
   * write, `AuditIntegrityError` when the stored log is
   * inconsistent, or the SQLite error when a write fails. Runs as a savepoint inside a caller's transaction.
   */
  append(event: AuditEvent): AuditReceipt {
    const valid = validateEvent(event);
    if (valid.action === LOG_KEY_ROTATION_ACTION && valid.decision === "accepted") {
      throw new TypeError("audit event: a log key rotation is appended by rotateKey only");
    }
    return this.#appendTransaction(valid);
  }

  /** The latest signed tree head (signs and stores one for the empty log). */
  treeHead(): SignedTreeHead {
    const size = this.size();
    const latest = readLatestHead(this.#db);
    if (latest === undefined && size === 0) return this.#signAndStore(0, EMPTY_ROOT, this.#now());
    if (latest === undefined || latest.treeSize !== size) {
      throw new AuditIntegrityError(
        `the latest signed head covers ${latest?.treeSize ?? "no"} entries but the log holds ${size}`,
      );
    }
    this.#assertRootMatches(latest);
    return latest;
  }

  /** Every stored signed head, smallest tree first. */
  heads(): SignedTreeHead[] {
    return readHeads(this.#db);
  }

  /** The receipt of entry `index` against the signed head of size `treeSize` (default: current size). */
  receipt(index: number, treeSize?: number): AuditReceipt {
    const size = treeSize ?? this.size();
    this.#assertSize(size, "treeSize", 1, this.size());
    this.#assertSize(index, "index", 0, size - 1);
    const head = this.#headAt(size);
    this.#assertRootMatches(head, true);
    const row = this.#entryRow(index);
    return {
      index,
      leafHash: toHex(row.leaf_hash),
      entry: parseEntryText(row.entry),
      inclusion: inclusionProofFrom(this.#hasher(), index, size).map(toHex),
      treeHead: head,
    };
  }

  /** Consistency proof (hex, RFC 6962 PROOF) from the tree of `oldSize` to that of `newSize` (default: now). */
  consistency(oldSize: number, newSize?: number): string[] {
    const size = newSize ?? this.size();
    this.#assertSize(size, "newSize", 0, this.size());
    this.#assertSize(oldSize, "oldSize", 0, size);
    return consistencyProofFrom(this.#hasher(), oldSize, size).map(toHex);
  }

  /** The signed head of exactly `treeSize` entries; throws NotFoundError when none was stored. */
  headAt(treeSize: number): SignedTreeHead {
    this.#assertSize(treeSize, "treeSize", 0, this.size());
    return this.#headAt(treeSize);
  }

  /** Stored entries with from <= index < to (default: all). */
  entries(from = 0, to?: number): StoredEntry[] {
    const size = this.size();
    const end = to ?? size;
    this.#assertSize(end, "to", 0, size);
    this.#assertSize(from, "from", 0, end);
    return (this.#sql.entries.all(from, end) as RawEntryRow[]).map(toStoredEntry);
  }

  /** Entries by partner and/or request id, oldest first (for "my receipts" listings). */
  findEntries(query: EntryQuery = {}): StoredEntry[] {
    const limit = query.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw new RangeError("findEntries: limit must be an integer in [1, 1000]");
    }
    const after = query.afterIndex ?? -1;
    if (!Number.isSafeInteger(after) || after < -1)
      throw new RangeError("findEntries: afterIndex must be >= -1");
    const byPartner = query.partner !== undefined;
    const rows = this.#sql.find.all({
      byPartner: byPartner ? 1 : 0,
      partner: byPartner ? query.partner : null,
      requestId: query.requestId ?? null,
      after,
      limit,
    }) as RawEntryRow[];
    return rows.map(toStoredEntry);
  }

  #appendNow(event: AuditEvent): AuditReceipt {
    const index = this.size();
    this.#assertHeadCovers(index);
    const timestamp = this.#now();
    const entry: AuditEntry = { ...event, index, timestamp };
    const text = entryText(entry);
    const leaf = leafHash(Buffer.from(text, "utf8"));
    this.#sql.insertEntry.run(index, text, leaf, event.partner, event.requestId);
    this.#storeCompletedSubtrees(index, leaf);
    const size = index + 1;
    const hasher = this.#hasher();
    const head = this.#signAndStore(size, hasher(0, size), timestamp);
    return {
      index,
      leafHash: toHex(leaf),
      entry,
      inclusion: inclusionProofFrom(hasher, index, size).map(toHex),
      treeHead: head,
    };
  }

  /** Stores leaf `index` and every complete subtree whose last leaf it is (its right spine). */
  #storeCompletedSubtrees(index: number, leaf: Uint8Array): void {
    let level = 0;
    let position = index;
    let hash = leaf;
    this.#sql.insertNode.run(level, position, hash);
    while (position % 2 === 1) {
      hash = nodeHash(this.#subtree(level, position - 1), hash);
      level += 1;
      position = (position - 1) / 2;
      this.#sql.insertNode.run(level, position, hash);
    }
  }

  /** Before extending: the newest signed head must describe exactly the stored tree. */
  #assertHeadCovers(size: number): void {
    const latest = readLatestHead(this.#db);
    if (latest === undefined) {
      if (size === 0) return;
      throw new AuditIntegrityError(`the log holds ${size} entries but no signed head`);
    }
    if (latest.treeSize !== size) {
      throw new AuditIntegrityError(
        `the latest signed head covers ${latest.treeSize} entries, the log holds ${size}`,
      );
    }
    this.#assertRootMatches(latest);
  }

  /** `historical`: an old head may be signed by an earlier key of this log; otherwise by the current one. */
  #assertRootMatches(head: SignedTreeHead, historical = false): void {
    const signedByUs = historical ? this.#logKeys.includes(head.logKey) : head.logKey === this.#keys.logKey;
    if (!signedByUs) {
      throw new AuditIntegrityError(`signed head of size ${head.treeSize} names another log key`);
    }
    const root = head.treeSize === 0 ? EMPTY_ROOT : this.#hasher()(0, head.treeSize);
    if (toHex(root) !== head.rootHash) {
      throw new AuditIntegrityError(`stored tree of size ${head.treeSize} does not match its signed head`);
    }
  }

  #signAndStore(
    treeSize: number,
    root: Uint8Array,
    timestamp: number,
    keys: LogKeyPair = this.#keys,
  ): SignedTreeHead {
    const head = signTreeHead({ treeSize, rootHash: toHex(root), timestamp }, keys);
    this.#sql.insertHead.run(head.treeSize, head.rootHash, head.timestamp, head.logKey, head.signature);
    return head;
  }

  #headAt(treeSize: number): SignedTreeHead {
    const row = this.#sql.headAt.get(treeSize) as Parameters<typeof toHead>[0] | undefined;
    if (row === undefined) throw new NotFoundError(`signed tree head of size ${treeSize}`);
    return toHead(row, `audit_heads (size ${treeSize})`);
  }

  #entryRow(index: number): RawEntryRow {
    const row = this.#sql.entry.get(index) as RawEntryRow | undefined;
    if (row === undefined) throw new AuditIntegrityError(`entry ${index} is missing`);
    const leaf = leafHash(Buffer.from(row.entry, "utf8"));
    if (!equalBytes(leaf, row.leaf_hash) || !equalBytes(leaf, this.#subtree(0, index))) {
      throw new AuditIntegrityError(`entry ${index} does not match its leaf hash`);
    }
    return row;
  }

  #subtree(level: number, index: number): Uint8Array {
    const hash = this.#sql.node.get(level, index) as Uint8Array | undefined;
    if (hash === undefined)
      throw new AuditIntegrityError(`subtree hash (level ${level}, index ${index}) is missing`);
    return hash;
  }

  #hasher(): SubtreeHasher {
    return (start, end) => rangeRootFrom((level, index) => this.#subtree(level, index), start, end);
  }

  #bindLogKey(): void {
    const stored = readStoredLogKeys(this.#db);
    if (stored.length === 0) {
      this.#db.prepare("INSERT INTO audit_meta (key, value) VALUES ('logKey', ?)").run(this.#keys.logKey);
      this.#logKeys = [this.#keys.logKey];
      return;
    }
    const current = stored.at(-1);
    if (current !== this.#keys.logKey) {
      throw new AuditIntegrityError(
        `this database's audit log is signed by ${current}, not by the given key`,
      );
    }
    this.#logKeys = stored;
  }

  #assertSize(value: number, field: string, min: number, max: number): void {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(`${field} must be an integer in [${min}, ${max}] (got ${value})`);
    }
  }
}
