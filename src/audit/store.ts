/**
 * @module audit/store
 *
 * The SQLite tables of the audit log and read-only access to them (what `zktally audit verify` uses without
 * the signing key).
 *
 * - `audit_entries(idx, entry, leaf_hash, partner, request_id)`: one row per leaf; `entry` is the canonical
 *   JSON text that is hashed, `partner`/`request_id` are copies for lookups and are never trusted by checks.
 * - `audit_nodes(level, idx, hash)`: every complete subtree hash (level 0 = leaf hashes), so roots and proofs
 *   need O(log n) lookups.
 * - `audit_heads`: every tree head the log signed (one per append).
 * - `audit_meta`: the log's first public key (`logKey`) and the key each rotation switched to
 *   (`logKey.rotated.<entry index>`), so a database is only ever extended under its current key.
 *
 * Security caveats: triggers make all four tables append-only for anyone using the database normally, but
 * an attacker with file access can drop them; tamper *evidence* comes from the signed heads and
 * audit/verify, never from these tables being intact. Raw rows returned here are untrusted input.
 */
import type Database from "better-sqlite3";
import { toHex } from "./merkle.ts";
import { parseTreeHead, type SignedTreeHead, type StoredEntry } from "./types.ts";

const TABLES = ["audit_entries", "audit_nodes", "audit_heads", "audit_meta"] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_entries (
  idx INTEGER PRIMARY KEY CHECK (idx >= 0),
  entry TEXT NOT NULL,
  leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
  partner TEXT,
  request_id TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_entries_by_partner ON audit_entries (partner, idx);
CREATE INDEX IF NOT EXISTS audit_entries_by_request ON audit_entries (request_id);
CREATE TABLE IF NOT EXISTS audit_nodes (
  level INTEGER NOT NULL CHECK (level >= 0),
  idx INTEGER NOT NULL CHECK (idx >= 0),
  hash BLOB NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_heads (
  id INTEGER PRIMARY KEY,
  tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
  root_hash TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  log_key TEXT NOT NULL,
  signature TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_heads_by_size ON audit_heads (tree_size, id);
${TABLES.map(appendOnlyTriggers).join("\n")}
`;

/** A row of `audit_entries` as better-sqlite3 returns it. */
export interface RawEntryRow {
  readonly idx: number;
  readonly entry: string;
  readonly leaf_hash: Uint8Array;
}

interface RawHeadRow {
  readonly tree_size: number;
  readonly root_hash: string;
  readonly timestamp: number;
  readonly log_key: string;
  readonly signature: string;
}

/** Creates the tables, indexes and append-only triggers if missing (idempotent). */
export function ensureAuditSchema(db: Database.Database): void {
  db.exec(SCHEMA);
}

/** True when `db` holds an audit log (all tables present). */
export function hasAuditLog(db: Database.Database): boolean {
  const rows = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit\\_%' ESCAPE '\\'`)
    .all() as { name: string }[];
  const names = new Set(rows.map((row) => row.name));
  return TABLES.every((table) => names.has(table));
}

/** Number of leaves, taken as the highest index + 1 (O(log n); count(*) would scan the table). */
export function readLogSize(db: Database.Database): number {
  const row = db.prepare("SELECT idx FROM audit_entries ORDER BY idx DESC LIMIT 1").get() as
    | { idx: number }
    | undefined;
  return row === undefined ? 0 : row.idx + 1;
}

/** Raw entry rows with from <= idx < to, in index order (untrusted: verify before use). */
export function readRawEntries(db: Database.Database, from = 0, to = Number.MAX_SAFE_INTEGER): RawEntryRow[] {
  return db
    .prepare("SELECT idx, entry, leaf_hash FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx")
    .all(from, to) as RawEntryRow[];
}

/** Entry rows as `StoredEntry`s (untrusted: verify before use). */
export function readEntries(db: Database.Database, from = 0, to = Number.MAX_SAFE_INTEGER): StoredEntry[] {
  return readRawEntries(db, from, to).map(toStoredEntry);
}

/** Every stored head, smallest tree first (untrusted: verify before use). Malformed rows throw. */
export function readHeads(db: Database.Database): SignedTreeHead[] {
  const rows = db
    .prepare(
      "SELECT tree_size, root_hash, timestamp, log_key, signature FROM audit_heads ORDER BY tree_size, id",
    )
    .all() as RawHeadRow[];
  return rows.map((row, i) => toHead(row, `audit_heads[${i}]`));
}

/** Every stored head as plain objects without validation, for verifiers that report malformed rows. */
export function readRawHeads(db: Database.Database): Record<string, unknown>[] {
  const rows = db
    .prepare(
      "SELECT tree_size, root_hash, timestamp, log_key, signature FROM audit_heads ORDER BY tree_size, id",
    )
    .all() as RawHeadRow[];
  return rows.map((row) => ({
    treeSize: row.tree_size,
    rootHash: row.root_hash,
    timestamp: row.timestamp,
    logKey: row.log_key,
    signature: row.signature,
  }));
}

/** The most recent head of the largest tree, if any. */
export function readLatestHead(db: Database.Database): SignedTreeHead | undefined {
  const row = db
    .prepare(
      "SELECT tree_size, root_hash, timestamp, log_key, signature FROM audit_heads ORDER BY tree_size DESC, id DESC LIMIT 1",
    )
    .get() as RawHeadRow | undefined;
  return row === undefined ? undefined : toHead(row, "audit_heads (latest)");
}

/** The public log key recorded in the database, if any (untrusted: pin the real one). */
export function readStoredLogKey(db: Database.Database): string | undefined {
  const row = db.prepare("SELECT value FROM audit_meta WHERE key = 'logKey'").get() as
    | { value: string }
    | undefined;
  return row?.value;
}

const ROTATED_KEY_PREFIX = "logKey.rotated.";

/**
 * Every log key recorded in the database, first one first (the first, then one per rotation, by the index
 * of its rotation entry). Untrusted: the rotation entries in the log are what verifiers follow.
 */
export function readStoredLogKeys(db: Database.Database): string[] {
  const first = readStoredLogKey(db);
  if (first === undefined) return [];
  return [first, ...readStoredRotations(db).map((row) => row.key)];
}

/** The recorded rotations: the index of each rotation entry and the key it switched to, oldest first. */
export function readStoredRotations(db: Database.Database): { index: number; key: string }[] {
  const rows = db
    .prepare("SELECT key, value FROM audit_meta WHERE substr(key, 1, ?) = ?")
    .all(ROTATED_KEY_PREFIX.length, ROTATED_KEY_PREFIX) as { key: string; value: string }[];
  return rows
    .map((row) => ({ index: Number(row.key.slice(ROTATED_KEY_PREFIX.length)), key: row.value }))
    .sort((a, b) => a.index - b.index);
}

/** Records the key a rotation (entry `index`) switched to; inside the rotation's transaction. */
export function storeRotatedLogKey(db: Database.Database, index: number, logKey: string): void {
  db.prepare("INSERT INTO audit_meta (key, value) VALUES (?, ?)").run(
    `${ROTATED_KEY_PREFIX}${index}`,
    logKey,
  );
}

export function toStoredEntry(row: RawEntryRow): StoredEntry {
  return { index: row.idx, entry: row.entry, leafHash: toHex(row.leaf_hash) };
}

export function toHead(row: RawHeadRow, field: string): SignedTreeHead {
  return parseTreeHead(
    {
      treeSize: row.tree_size,
      rootHash: row.root_hash,
      timestamp: row.timestamp,
      logKey: row.log_key,
      signature: row.signature,
    },
    field,
  );
}

function appendOnlyTriggers(table: string): string {
  return ["UPDATE", "DELETE"]
    .map(
      (op) =>
        `CREATE TRIGGER IF NOT EXISTS ${table}_no_${op.toLowerCase()} BEFORE ${op} ON ${table}
         BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`,
    )
    .join("\n");
}
