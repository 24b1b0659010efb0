/**
 * @module storage/keyfile
 *
 * The data-encryption key file: `{version: 1, keys: [{id, key: hex32, createdAt, destroyed?: true}],
 * current}` (a destroyed key has no `key` field). Reading checks, on the open file descriptor, that it is a
 * regular file with no group/other permission bits; writing goes to a 0600 temporary file in the same
 * directory that is fsynced and then renamed over (or, on creation, hard-linked to) the target, followed by
 * an fsync of the directory, so a crash leaves either the old or the new file, never a torn one.
 *
 * Security caveats: messages never contain key material. The permission check is POSIX-only (skipped on
 * Windows) and does not look at ACLs or the owner. A single writer is assumed: two processes rotating the
 * same file concurrently would lose one rotation (last rename wins). Destroying a key removes it from this
 * file only; backups, snapshots and old copies of the file still hold it.
 */

import { randomBytes } from "node:crypto";
import { link, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { HEX32 } from "../core/formats.ts";
import { IntegrityError } from "../util/errors.ts";
import { JsonTextError, parseStrictJson } from "../util/strict-json.ts";

export interface KeyRecord {
  readonly id: number;
  /** 32 bytes of lowercase hex; absent once destroyed. */
  readonly key?: string;
  readonly createdAt: string;
  readonly destroyed?: true;
}

export interface KeyFileContent {
  readonly version: 1;
  readonly keys: readonly KeyRecord[];
  readonly current: number;
}

/** The key file is missing, unreadable, too permissive or malformed. */
export class KeyFileError extends IntegrityError {
  override readonly path: string;
  constructor(
    path: string,
    readonly reason: string,
    /** The file system error code (`ENOENT`, `EEXIST`, ...), when one caused it. */
    readonly errno?: string,
  ) {
    super("key_file", `key file ${path}: ${reason}`, { path });
    this.path = path;
  }
}

const MAX_FILE_BYTES = 1 << 20;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Reads and validates a key file; throws KeyFileError. */
export async function readKeyFile(path: string): Promise<KeyFileContent> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyFileError(path, code === "ENOENT" ? "does not exist" : `cannot open (${code})`, code);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KeyFileError(path, "is not a regular file");
    if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
      throw new KeyFileError(
        path,
        `has mode ${mode}; it must not be group/world accessible (chmod 600)`,
        "EPERM",
      );
    }
    if (stat.size > MAX_FILE_BYTES) throw new KeyFileError(path, "is larger than 1 MiB");
    return parseKeyFile(path, await handle.readFile("utf8"));
  } finally {
    await handle.close();
  }
}

/** Validates key file text; throws KeyFileError naming the field (never its value). */
export function parseKeyFile(path: string, text: string): KeyFileContent {
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (error) {
    if (!(error instanceof JsonTextError)) throw error;
    // Position only: the reason could quote a character of key material.
    const at = `line ${error.line} column ${error.column}`;
    const problem = error.duplicateKey === undefined ? "is not valid JSON" : "repeats a key";
    throw new KeyFileError(path, `${problem} (${at})`);
  }
  const fail = (reason: string) => new KeyFileError(path, reason);
  if (!isRecord(value)) throw fail("must be a JSON object");
  checkKeys(value, ["version", "keys", "current"], [], "the top level", fail);
  if (value.version !== 1) throw fail("version must be 1");
  if (!Array.isArray(value.keys) || value.keys.length === 0) throw fail("keys must be a non-empty array");
  const keys = value.keys.map((record, i) => parseRecord(record, i, fail));
  const ids = new Set(keys.map((record) => record.id));
  if (ids.size !== keys.length) throw fail("keys contain duplicate ids");
  const current = keys.find((record) => record.id === value.current);
  if (current === undefined) throw fail("current does not name a key in keys");
  if (current.destroyed) throw fail("current names a destroyed key");
  return { version: 1, keys, current: current.id };
}

/** Creates `path` with `content` only if it does not exist yet (atomic, 0600). */
export async function createKeyFile(path: string, content: KeyFileContent): Promise<void> {
  const temporary = await writeTemporary(path, content);
  try {
    await link(temporary, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyFileError(path, code === "EEXIST" ? "already exists" : `cannot create (${code})`, code);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncDirectory(path);
}

/** Atomically replaces `path` with `content` (0600). */
export async function replaceKeyFile(path: string, content: KeyFileContent): Promise<void> {
  const temporary = await writeTemporary(path, content);
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new KeyFileError(path, `cannot replace (${(error as NodeJS.ErrnoException).code})`);
  }
  await syncDirectory(path);
}

async function writeTemporary(path: string, content: KeyFileContent): Promise<string> {
  const temporary = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(temporary, "wx", 0o600);
  } catch (error) {
    throw new KeyFileError(path, `cannot write next to it (${(error as NodeJS.ErrnoException).code})`);
  }
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`, "utf8");
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw new KeyFileError(path, `cannot write (${(error as NodeJS.ErrnoException).code})`);
  }
  await handle.close();
  return temporary;
}

/** Makes the rename/link itself durable; best effort where directories cannot be opened (Windows). */
async function syncDirectory(path: string): Promise<void> {
  try {
    const directory = await open(dirname(path), "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  } catch {
    // Not supported on this platform; the file itself was fsynced.
  }
}

function parseRecord(value: unknown, i: number, fail: (reason: string) => KeyFileError): KeyRecord {
  const where = `keys[${i}]`;
  if (!isRecord(value)) throw fail(`${where} must be an object`);
  checkKeys(value, ["id", "createdAt"], ["key", "destroyed"], where, fail);
  const { id, key, createdAt, destroyed } = value;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1)
    throw fail(`${where}.id must be a positive integer`);
  if (typeof createdAt !== "string" || !ISO_DATE.test(createdAt)) {
    throw fail(`${where}.createdAt must be an ISO-8601 UTC timestamp`);
  }
  if (destroyed !== undefined) {
    if (destroyed !== true) throw fail(`${where}.destroyed must be true when present`);
    if (key !== undefined) throw fail(`${where} is destroyed but still has key material`);
    return { id, createdAt, destroyed: true };
  }
  if (typeof key !== "string" || !HEX32.test(key))
    throw fail(`${where}.key must be 32 bytes of lowercase hex`);
  return { id, key, createdAt };
}

function checkKeys(
  value: Record<string, unknown>,
  required: readonly string[],
  optional: readonly string[],
  where: string,
  fail: (reason: string) => KeyFileError,
): void {
  for (const name of required) if (!(name in value)) throw fail(`${where} lacks ${name}`);
  for (const name of Object.keys(value)) {
    if (!required.includes(name) && !optional.includes(name))
      throw fail(`${where} has unknown field ${JSON.stringify(name)}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
