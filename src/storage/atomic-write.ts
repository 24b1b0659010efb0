/**
 * @module storage/atomic-write
 *
 * Crash-safe file and directory writes for caches and state files: `writeFileAtomic` (a temp file in the same
 * directory, then `rename` over the target), `makeStagingDir` + `commitStagingDir` (build a directory next to
 * its final place, then `rename` it there), so a killed process never leaves a half-written entry that a later
 * run would mistake for a finished one.
 *
 * Node-only. Security caveats: no `fsync`: after a power loss a renamed file may be empty (good enough for
 * caches that are re-checked against pinned hashes; `storage/keyfile` fsyncs what must survive). Temp names
 * carry the pid, and staging directories of dead processes are removed, so leftovers do not pile up.
 */

import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

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
 * Moves a finished staging directory to its final location. Returns false (and removes the staging
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
