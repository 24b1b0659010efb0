/**
 * @module service/db
 *
 * The service's SQLite database (better-sqlite3, one file under the data directory, WAL mode, foreign keys
 * on, `synchronous = FULL`): partners, datasets (encrypted records and secrets), jobs, bundles, budgets and
 * their ledger, and the encrypted service keys. The audit log (src/audit) keeps its own
 * tables in the same file so a decision and its log entry commit in one transaction.
 *
 * Schema changes are numbered migrations applied in order inside a transaction (`PRAGMA user_version`).
 *
 * Security caveats: the directory is created with mode 0700 and the database file chmod-ed to 0600; records
 * and dataset secrets are only ever stored as KeyRing envelopes (see datasets.ts); client secrets only as
 * scrypt hashes. Every job, bundle and receipt row carries its partner so reads are filtered by owner in SQL.
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import Database from "better-sqlite3";
import { ConflictError, InputError, IntegrityError } from "../util/errors.ts";

export type Db = Database.Database;
export type Statement = Database.Statement;

const statements = new WeakMap<Db, Map<string, Statement>>();

function cached(db: Db, key: string, make: () => Statement): Statement {
  let byDb = statements.get(db);
  if (!byDb) {
    byDb = new Map();
    statements.set(db, byDb);
  }
  let prepared = byDb.get(key);
  if (!prepared) {
    prepared = make();
    byDb.set(key, prepared);
  }
  return prepared;
}

/** A prepared statement, compiled once per connection (preparing costs more than running small queries). */
export function statement(db: Db, sql: string): Statement {
  return cached(db, `row:${sql}`, () => db.prepare(sql));
}

/** Like `statement`, in pluck mode (first column only); kept apart so the two modes never share an object. */
export function scalar(db: Db, sql: string): Statement {
  return cached(db, `scalar:${sql}`, () => db.prepare(sql).pluck());
}

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE partners (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- incremented by secret rotation and disabling; tokens carry it and older ones stop working
    credential_version INTEGER NOT NULL DEFAULT 1,
    scopes TEXT NOT NULL,
    policy TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE datasets (
    dataset_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    records_envelope TEXT NOT NULL,
    secret_envelope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, epoch)
  ) STRICT;

  CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (client_id),
    request_id TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    circuit_id TEXT NOT NULL,
    query TEXT NOT NULL,
    query_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    min_group_size INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    phase TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    error_code TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (partner_id, nonce),
    FOREIGN KEY (dataset_id, epoch) REFERENCES datasets (dataset_id, epoch)
  ) STRICT;
  CREATE INDEX jobs_by_state ON jobs (state, available_at, created_at);
  CREATE INDEX jobs_by_partner ON jobs (partner_id, state);

  -- one bundle per job, enforced by the key: a job is answered at most once
  CREATE TABLE bundles (
    job_id TEXT PRIMARY KEY REFERENCES jobs (job_id),
    partner_id TEXT NOT NULL,
    bundle TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE budgets (
    partner_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    used INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (partner_id, period_start)
  ) STRICT;

  -- one ledger row per job: reserved at admission, charged with the answer or refunded with a failure
  CREATE TABLE budget_ledger (
    job_id TEXT PRIMARY KEY REFERENCES jobs (job_id),
    partner_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'charged', 'refunded')),
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE service_keys (
    name TEXT PRIMARY KEY,
    envelope TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
  // Chunk progress of a running job (chunks proven of total, estimated ms left): public metadata.
  `
  ALTER TABLE jobs ADD COLUMN chunks_done INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN chunks_total INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN eta_ms INTEGER;
  `,
  // Dataset lifecycle (docs/operations.md): per-epoch data keys (crypto-shredding), shredded epochs, and
  // erasure requests waiting for their batch (each key sealed, deleted once applied).
  `
  CREATE TABLE epoch_keys (
    dataset_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    envelope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, epoch),
    FOREIGN KEY (dataset_id, epoch) REFERENCES datasets (dataset_id, epoch)
  ) STRICT;
  ALTER TABLE datasets ADD COLUMN shredded_at INTEGER;
  CREATE TABLE erasure_requests (
    request_id INTEGER PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
  // Sliding-window and privacy budgets (budgets.ts) count the ledger: when each row was reserved, on which
  // dataset, its (epsilon, delta) in fixed point; admin resets mark the last row they void. The fixed-period
  // counters in the budgets table are no longer read.
  `
  ALTER TABLE budget_ledger ADD COLUMN reserved_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE budget_ledger ADD COLUMN dataset_id TEXT NOT NULL DEFAULT '';
  ALTER TABLE budget_ledger ADD COLUMN epsilon_micros INTEGER NOT NULL DEFAULT 0 CHECK (epsilon_micros >= 0);
  ALTER TABLE budget_ledger ADD COLUMN delta_units INTEGER NOT NULL DEFAULT 0 CHECK (delta_units >= 0);
  UPDATE budget_ledger SET reserved_at = updated_at,
    dataset_id = COALESCE((SELECT dataset_id FROM jobs WHERE jobs.job_id = budget_ledger.job_id), '');
  CREATE INDEX budget_ledger_window ON budget_ledger (partner_id, reserved_at);
  -- a dp job's noise parameters (JSON {epsilon, delta}); NULL for exact answers
  ALTER TABLE jobs ADD COLUMN dp TEXT;
  CREATE TABLE budget_resets (
    partner_id TEXT PRIMARY KEY,
    after_rowid INTEGER NOT NULL,
    reset_at INTEGER NOT NULL
  ) STRICT;
  `,
  // Operator key statements (rotations and revocations, design.md section 5): public, append-only.
  `
  CREATE TABLE key_statements (
    id INTEGER PRIMARY KEY,
    statement TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
  // Pass jobs (several queries in one proof, design.md section 9): a job's kind, and how many queries one
  // ledger row counts against the query budget (every query of a batch is one query).
  `
  ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'query' CHECK (kind IN ('query', 'pass'));
  ALTER TABLE budget_ledger ADD COLUMN queries INTEGER NOT NULL DEFAULT 1 CHECK (queries >= 1);
  `,
  // Token keys rotated away from (service-keys.ts), sealed like the service keys: they verify the tokens
  // they signed across restarts until retire_at (seconds), when the last of those tokens has expired.
  `
  CREATE TABLE retired_token_keys (
    kid TEXT PRIMARY KEY,
    envelope TEXT NOT NULL,
    retired_at INTEGER NOT NULL,
    retire_at INTEGER NOT NULL
  ) STRICT;
  `,
  // The dominance share a job's sum is proven under (policy dominanceShare, docs/privacy.md); 0 = no rule.
  `
  ALTER TABLE jobs ADD COLUMN dominance_share INTEGER NOT NULL DEFAULT 0
    CHECK (dominance_share BETWEEN 0 AND 100);
  `,
  // Geoeditors-style releases (service/releases.ts): one row per release (queued, proven by the release runner,
  // its document and TSV once done) and the release budget ledger, one row per (release, country) with the
  // (epsilon, delta) of the country's tier in fixed point (budgets.ts scales).
  `
  CREATE TABLE releases (
    release_id TEXT PRIMARY KEY,
    admin_id TEXT,
    request_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    request TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    passes_done INTEGER NOT NULL DEFAULT 0,
    passes_total INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    error_code TEXT,
    error_message TEXT,
    document TEXT,
    tsv TEXT,
    document_hash TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (dataset_id, epoch, nonce),
    FOREIGN KEY (dataset_id, epoch) REFERENCES datasets (dataset_id, epoch)
  ) STRICT;
  CREATE INDEX releases_by_state ON releases (state, created_at);
  CREATE TABLE release_charges (
    release_id TEXT NOT NULL REFERENCES releases (release_id),
    country TEXT NOT NULL,
    tier TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    epsilon_micros INTEGER NOT NULL CHECK (epsilon_micros >= 0),
    delta_units INTEGER NOT NULL CHECK (delta_units >= 0),
    state TEXT NOT NULL CHECK (state IN ('reserved', 'charged', 'refunded')),
    PRIMARY KEY (release_id, country)
  ) STRICT;
  CREATE INDEX release_charges_by_epoch ON release_charges (dataset_id, epoch, state);
  `,
];

/**
 * Opens the database file and applies pending migrations. Without `create`, the file must exist and pass
 * SQLite's `quick_check` (b-tree structure, page and record formats) before anything is read or written:
 * a corrupted file is refused (`IntegrityError` database_corrupt) rather than served. `create` (init only)
 * makes the directory and the file when missing.
 */
export function openDatabase(file: string, directory: string, options: { create?: boolean } = {}): Db {
  if (options.create && !existsSync(directory)) mkdirSync(directory, { recursive: true, mode: 0o700 });
  if (!options.create && !existsSync(file)) throw notInitialised(directory, `no database ${file}`);
  const db = new Database(file, { fileMustExist: !options.create });
  try {
    chmodSync(file, 0o600);
    checkIntegrity(db, file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    // Freed pages are zeroed, so shredded envelopes and applied erasure requests leave no bytes behind.
    db.pragma("secure_delete = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The data directory holds no service state: the operator must run init (never done implicitly). */
export function notInitialised(directory: string, what: string): InputError {
  return new InputError("not_initialised", `data directory ${directory} is not initialised (${what})`, {
    path: directory,
    hint: `check --data-dir / ZKTALLY_DATA_DIR, or create the service state with: zktally serve admin init --data-dir ${directory}`,
  });
}

/** `PRAGMA quick_check`; SQLite's own corruption errors (not a database, malformed image) count as failures. */
function checkIntegrity(db: Db, file: string): void {
  let rows: { quick_check: string }[];
  try {
    rows = db.pragma("quick_check") as { quick_check: string }[];
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB") {
      throw corrupt(file, String(code), error);
    }
    throw error;
  }
  const problems = rows.map((row) => row.quick_check);
  if (problems.length !== 1 || problems[0] !== "ok") throw corrupt(file, problems.slice(0, 3).join("; "));
}

function corrupt(file: string, reason: string, cause?: unknown): IntegrityError {
  return new IntegrityError("database_corrupt", `database ${file} is corrupt (${reason})`, {
    path: file,
    hint: "stop every instance using it and restore the database from a backup; do not run init over it",
    cause,
  });
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new ConflictError(
      "database_too_new",
      `database schema version ${current} is newer than this zktally (knows ${MIGRATIONS.length})`,
      { hint: "run the zktally version that wrote this database, or a newer one" },
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
