/**
 * @module test/helpers/packages
 *
 * Packs zktally's packages and installs the tarballs into scratch projects the way a user would, offline:
 * `npm pack` (scripts skipped: the test builds dist/ first), then `npm ci --offline` in a scratch folder whose
 * package-lock.json is derived from the repository's (same versions and integrity hashes, so every tarball
 * comes from the local npm cache that installed the repository; no registry request). The scratch lock lists
 * the tarball and the production dependency tree it needs: its own dependencies' closure for the verifier
 * SDK, every non-dev package of the repository's lock for the operator package.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../src/setup/paths.ts";

const run = promisify(execFile);

interface LockEntry {
  readonly version?: string;
  readonly dev?: boolean;
  readonly link?: boolean;
  readonly dependencies?: Record<string, string>;
  readonly [key: string]: unknown;
}

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Record<string, string>;
  readonly [key: string]: unknown;
}

function rootLock(): Record<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8"));
  return lock.packages as Record<string, LockEntry>;
}

/** `npm pack` of the package in `dir` into `destination`; returns the tarball's path. */
export async function packPackage(dir: string, destination: string): Promise<string> {
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", destination], {
    cwd: dir,
  });
  const name = stdout.trim().split("\n").at(-1) as string;
  return join(destination, name);
}

/** The hoisted lock entries of `names` and everything they depend on. */
function closureOf(names: Iterable<string>, lock: Record<string, LockEntry>): Record<string, LockEntry> {
  const entries: Record<string, LockEntry> = {};
  const pending = [...names];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    const key = `node_modules/${name}`;
    if (Object.hasOwn(entries, key)) continue;
    const entry = lock[key];
    if (entry === undefined) throw new Error(`${name} is not in the repository's package-lock.json`);
    entries[key] = { ...entry, dev: undefined };
    pending.push(...Object.keys(entry.dependencies ?? {}));
  }
  return entries;
}

/** Every production package of the repository's lock (what installing zktally itself needs). */
function productionTree(lock: Record<string, LockEntry>): Record<string, LockEntry> {
  return Object.fromEntries(
    Object.entries(lock).filter(
      ([key, entry]) => key.startsWith("node_modules/") && entry.dev !== true && entry.link !== true,
    ),
  );
}

/**
 * A scratch project in `dir` depending on the tarball, installed with `npm ci --offline`. `tree`: which
 * dependencies the lock lists ("closure" of the package's own, or the repository's whole production tree).
 */
export async function installTarball(
  dir: string,
  tarball: string,
  tree: "closure" | "production",
  npmFlags: readonly string[] = [],
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const manifest = JSON.parse(
    (await run("tar", ["-xOzf", tarball, "package/package.json"], { maxBuffer: 1 << 24 })).stdout,
  ) as PackageJson;
  const spec = `file:${tarball}`;
  const lock = rootLock();
  const dependencies =
    tree === "closure" ? closureOf(Object.keys(manifest.dependencies ?? {}), lock) : productionTree(lock);
  const scratch = { name: "scratch", version: "1.0.0", private: true, type: "module" };
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ ...scratch, dependencies: { [manifest.name]: spec } }, null, 2),
  );
  const packages = {
    "": { name: scratch.name, version: scratch.version, dependencies: { [manifest.name]: spec } },
    [`node_modules/${manifest.name}`]: {
      version: manifest.version,
      resolved: spec,
      dependencies: manifest.dependencies ?? {},
      ...(manifest.bin === undefined ? {} : { bin: manifest.bin }),
    },
    ...dependencies,
  };
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({
      name: scratch.name,
      version: scratch.version,
      lockfileVersion: 3,
      requires: true,
      packages,
    }),
  );
  await run("npm", ["ci", "--offline", "--no-audit", "--no-fund", ...npmFlags], {
    cwd: dir,
    maxBuffer: 1 << 24,
  });
}
