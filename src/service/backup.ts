/**
 * @module service/backup
 *
 * Backup and restore of a service data directory (docs/operations.md). `backupService` takes a consistent
 * online copy while the service runs: the SQLite database through SQLite's online backup API (datasets
 * sealed under their epoch keys, partners, jobs, bundles, budgets, and the audit log with its signed heads,
 * all one snapshot), plus every other regular file of the data directory (e.g. chunk stores), each with
 * its SHA-256. Key files are never copied: the backup names them by path and key ids ("keys by
 * reference"), so a stolen backup opens nothing without the key file. `restoreBackup` writes a backup into
 * an empty directory, checks every digest, and opens the restored state with the full boot checks (database
 * quick_check, service keys unsealed by the key file, the audit log replayed against its signed heads), then
 * checks that the restored log's head for the backed-up size is the backed-up head.
 *
 * Security caveats: a backup holds everything the database holds (sealed), so it is as sensitive as the
 * data directory minus the key file; erasures and retention shred epochs in the live database only, so
 * backups older than an erasure must be expired on the same schedule (docs/operations.md). The file is
 * written with mode 0600.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import { readLatestHead } from "../audit/store.ts";
import { parseTreeHead, type SignedTreeHead } from "../audit/types.ts";
import { writeFileAtomic } from "../storage/atomic-write.ts";
import type { KeyRing } from "../storage/keyring.ts";
import { ConflictError, InputError, IntegrityError } from "../util/errors.ts";
import { databaseFileOf, keyFileOf, type ServiceConfig, workerKeyFileOf } from "./config.ts";
import type { ServiceContext } from "./context.ts";

export const BACKUP_FORMAT = "zktally-backup/v1";

const fileSchema = z.strictObject({
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  base64: z.string(),
});

const backupSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  createdAt: z.string(),
  operatorKey: z.string(),
  logKey: z.string(),
  treeHead: z.unknown(),
  /** The key file by reference: where it was and which key versions it held (never its material). */
  keyFile: z.strictObject({ path: z.string(), keyIds: z.array(z.int()) }),
  database: fileSchema,
  files: z.array(fileSchema),
});

export type Backup = z.infer<typeof backupSchema>;

export interface BackupSummary {
  readonly out: string;
  readonly bytes: number;
  readonly files: number;
  readonly treeSize: number;
  readonly keyFile: string;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function fileRecord(relative: string, bytes: Buffer) {
  return { path: relative, sha256: sha256(bytes), base64: bytes.toString("base64") };
}

/** Regular files under the data directory other than the database (and its WAL) and key files. */
function otherFiles(config: ServiceConfig): string[] {
  const skip = new Set([
    databaseFileOf(config),
    `${databaseFileOf(config)}-wal`,
    `${databaseFileOf(config)}-shm`,
    `${databaseFileOf(config)}-journal`,
    keyFileOf(config),
    workerKeyFileOf(config),
  ]);
  return readdirSync(config.dataDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => !skip.has(file) && !file.endsWith(".tmp"))
    .sort();
}

/** A consistent online backup of the service's state into `out` (see the module header). */
export async function backupService(
  ctx: ServiceContext,
  keyRing: KeyRing,
  out: string,
): Promise<BackupSummary> {
  const staging = path.join(tmpdir(), `zktally-backup-${process.pid}-${Date.now()}.db`);
  try {
    await ctx.db.backup(staging);
    const snapshot = readFileSync(staging);
    const treeHead = ctx.audit.log.treeHead();
    const backup: Backup = {
      format: BACKUP_FORMAT,
      createdAt: new Date(ctx.now()).toISOString(),
      operatorKey: ctx.operatorKey,
      logKey: ctx.audit.log.logKey,
      treeHead,
      keyFile: {
        path: keyRing.path,
        keyIds: keyRing
          .keys()
          .filter((key) => !key.destroyed)
          .map((key) => key.id),
      },
      database: fileRecord(path.basename(databaseFileOf(ctx.config)), snapshot),
      files: otherFiles(ctx.config).map((file) =>
        fileRecord(path.relative(ctx.config.dataDir, file), readFileSync(file)),
      ),
    };
    const text = `${JSON.stringify(backup)}\n`;
    await writeFileAtomic(out, text);
    return {
      out,
      bytes: Buffer.byteLength(text),
      files: backup.files.length + 1,
      treeSize: treeHead.treeSize,
      keyFile: keyRing.path,
    };
  } finally {
    rmSync(staging, { force: true });
  }
}

/** Parses a backup file; throws InputError invalid_backup. */
export function parseBackup(text: string): Backup {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InputError("invalid_backup", "the backup file is not JSON");
  }
  const result = backupSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InputError("invalid_backup", `backup ${issue?.path.join(".") || "file"}: ${issue?.message}`);
  }
  return result.data;
}

/**
 * Writes a backup into `config.dataDir`, which must hold no database. Digests are checked before anything
 * is written; the caller then opens the service (boot checks) and calls `checkRestored`.
 */
export function writeRestoredFiles(backup: Backup, config: ServiceConfig): void {
  if (existsSync(databaseFileOf(config))) {
    throw new ConflictError("restore_target_in_use", `${config.dataDir} already holds a database`, {
      hint: "restore into an empty directory",
    });
  }
  const files = [backup.database, ...backup.files].map((file) => {
    const bytes = Buffer.from(file.base64, "base64");
    if (sha256(bytes) !== file.sha256) {
      throw new IntegrityError("backup_corrupt", `backup file ${file.path} does not match its SHA-256`);
    }
    const target = path.resolve(config.dataDir, file.path);
    if (!target.startsWith(`${path.resolve(config.dataDir)}${path.sep}`)) {
      throw new InputError("invalid_backup", `backup file path ${file.path} leaves the data directory`);
    }
    return { target, bytes };
  });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  for (const { target, bytes } of files) {
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, bytes, { mode: 0o600 });
  }
}

/** After boot: the restored log holds the backed-up head (same size, same root) and the same keys. */
export function checkRestored(backup: Backup, ctx: ServiceContext): SignedTreeHead {
  const head = parseTreeHead(backup.treeHead);
  const restored = ctx.audit.log.headAt(head.treeSize);
  if (restored.rootHash !== head.rootHash || ctx.audit.log.logKey !== backup.logKey) {
    throw new IntegrityError(
      "backup_mismatch",
      "the restored audit log does not hold the backed-up tree head",
    );
  }
  if (ctx.operatorKey !== backup.operatorKey) {
    throw new IntegrityError("backup_mismatch", "the restored operator key differs from the backed-up one");
  }
  return readLatestHead(ctx.db) ?? head;
}
