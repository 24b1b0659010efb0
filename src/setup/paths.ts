/**
 * @module setup/paths
 *
 * Where the setup pipeline keeps its cache (compiled circuits, development ptau files, zkeys) and the small
 * file helpers every cache writer shares: streaming SHA-256 of a file, atomic file writes and atomic
 * directory commits (build in a temp dir next to the target, then `rename`), so a killed process never leaves a
 * half-written cache entry that a later run would mistake for a finished one.
 *
 * The cache root is `<repo>/build` (gitignored) unless the environment variable `ZKTALLY_BUILD_DIR` names
 * another directory. Nothing in the cache is trusted on its own: zkeys and wasm files are checked against the
 * pinned hashes of the keys manifest before use (see `keys-manifest.ts`).
 */

import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the repository root (two levels above this file). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url)).replace(/[\\/]+$/, "");

/** Environment variable that overrides the cache root. */
export const BUILD_DIR_ENV = "ZKTALLY_BUILD_DIR";

/** The cache root: `opts.buildDir`, else `$ZKTALLY_BUILD_DIR`, else `<repo>/build`; always absolute. */
export function buildRoot(buildDir?: string): string {
  const chosen = buildDir ?? process.env[BUILD_DIR_ENV];
  if (chosen === undefined || chosen === "") return path.join(REPO_ROOT, "build");
  return path.resolve(REPO_ROOT, chosen);
}

/** Circuit ids become directory and file names, so they are restricted to a safe alphabet. */
export function assertCircuitId(id: string): void {
  if (typeof id !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(id)) {
    throw new TypeError(`circuit id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,99}, got ${JSON.stringify(id)}`);
  }
}

function assertHex(name: string, value: string): void {
  if (typeof value !== "string" || !/^[0-9a-f]{16,}$/.test(value)) {
    throw new TypeError(`${name} must be a lowercase hex digest, got ${JSON.stringify(value)}`);
  }
}

/** Directory holding one compiled version of a circuit (keyed by its source hash). */
export function compiledCircuitDir(id: string, sourceHash: string, buildDir?: string): string {
  assertCircuitId(id);
  assertHex("sourceHash", sourceHash);
  return path.join(buildRoot(buildDir), "circuits", id, sourceHash);
}

/** File names circom writes for a main file `<id>.circom` into its output directory. */
export function compiledArtifactPaths(dir: string, id: string): { r1cs: string; wasm: string; sym: string } {
  assertCircuitId(id);
  return {
    r1cs: path.join(dir, `${id}.r1cs`),
    wasm: path.join(dir, `${id}_js`, `${id}.wasm`),
    sym: path.join(dir, `${id}.sym`),
  };
}

/** Directory holding the zkey and vkey of one (compiled circuit, ptau) pair. */
export function zkeyDir(id: string, sourceHash: string, ptauSha256: string, buildDir?: string): string {
  assertCircuitId(id);
  assertHex("sourceHash", sourceHash);
  assertHex("ptauSha256", ptauSha256);
  return path.join(buildRoot(buildDir), "zkeys", id, `${sourceHash.slice(0, 16)}-${ptauSha256.slice(0, 16)}`);
}

/** Paths of the final artifacts inside a `zkeyDir`. */
export function zkeyArtifactPaths(dir: string): { zkey: string; vkey: string; meta: string } {
  return {
    zkey: path.join(dir, "circuit.zkey"),
    vkey: path.join(dir, "vkey.json"),
    meta: path.join(dir, "setup.json"),
  };
}

/** Directory of the development ptau files. */
export function ptauDir(buildDir?: string): string {
  return path.join(buildRoot(buildDir), "ptau");
}

/** Hex SHA-256 of a file, streamed so large zkeys and ptau files are not read into memory twice. */
export function sha256File(filePath: string): Promise<string> {
  return digestFile(filePath, "sha256");
}

/** Hex digest (`sha256`, `blake2b512`, ...) of a file's bytes, streamed. */
export function digestFile(filePath: string, algorithm: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    createReadStream(filePath)
      .on("error", reject)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** Hex SHA-256 of bytes or a UTF-8 string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A fresh, uniquely named staging directory `.tmp-<pid>-<random>` inside `parent` (same filesystem, so the
 * final `rename` is atomic). Staging directories of processes that no longer exist (killed builds) are
 * removed first, so an interrupted ptau or compile does not leave large leftovers behind.
 */
export async function makeStagingDir(parent: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  await removeDeadStagingDirs(parent);
  const dir = path.join(parent, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  await mkdir(dir);
  return dir;
}

async function removeDeadStagingDirs(parent: string): Promise<void> {
  for (const name of await readdir(parent)) {
    const match = /^\.tmp-(\d+)-[0-9a-f]{12}$/.exec(name);
    if (match && !isProcessAlive(Number(match[1]))) {
      await rm(path.join(parent, name), { recursive: true, force: true });
    }
  }
}

function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes a file atomically: a temp file in the same directory, then `rename` over the target. */
export async function writeFileAtomic(filePath: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  const tmp = `${filePath}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, filePath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Moves a finished staging directory to its final cache location. Returns false (and removes the staging
 * directory) when another process committed the same entry first; the existing entry then wins.
 */
export async function commitStagingDir(stagingDir: string, finalDir: string): Promise<boolean> {
  await mkdir(path.dirname(finalDir), { recursive: true });
  try {
    await rename(stagingDir, finalDir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    await rm(stagingDir, { recursive: true, force: true });
    if (code === "ENOTEMPTY" || code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Reads one section of an iden3 binary file (r1cs, ptau, zkey, wtns) with positional reads, so multi-GB files
 * are not loaded. Layout: 4-byte magic, u32 version, u32 nSections, then sections (u32 type, u64 size, body).
 */
export async function readBinSection(
  filePath: string,
  magic: string,
  sectionType: number,
  maxBytes = 1 << 20,
): Promise<Buffer> {
  const fh = await open(filePath, "r");
  try {
    const size = (await fh.stat()).size;
    const read = async (position: number, length: number): Promise<Buffer> => {
      if (position + length > size) throw new TypeError(`${filePath}: truncated ${magic} file`);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, position);
      return buf;
    };
    const top = await read(0, 12);
    if (top.toString("latin1", 0, 4) !== magic) throw new TypeError(`${filePath}: not a ${magic} file`);
    let position = 12;
    for (let s = 0; s < top.readUInt32LE(8); s++) {
      const head = await read(position, 12);
      const length = Number(head.readBigUInt64LE(4));
      if (head.readUInt32LE(0) === sectionType) {
        if (length > maxBytes) throw new RangeError(`${filePath}: section ${sectionType} is ${length} bytes`);
        return read(position + 12, length);
      }
      position += 12 + length;
    }
    throw new TypeError(`${filePath}: ${magic} section ${sectionType} missing`);
  } finally {
    await fh.close();
  }
}

/** Little-endian unsigned integer of `length` bytes at `offset`. */
export function readUintLE(buf: Buffer, offset: number, length: number): bigint {
  let value = 0n;
  for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(buf[offset + i] as number);
  return value;
}
