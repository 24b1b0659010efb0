/**
 * @module setup/paths
 *
 * Where the setup pipeline keeps its cache (compiled circuits, development ptau files, zkeys), and the safe
 * alphabet of circuit ids that become file names there. Cache entries are written with `storage/atomic-write`
 * and hashed with `storage/file-digest`.
 *
 * The cache root is `<repo>/build` (gitignored) unless the environment variable `ZKTALLY_BUILD_DIR` names
 * another directory. Nothing in the cache is trusted on its own: zkeys and wasm files are checked against the
 * pinned hashes of the keys manifest before use (see `keys-manifest.ts`).
 *
 * Circuit sources: the package's templates live in `<repo>/circuits/lib` and its shipped (committed, reviewed)
 * mains in `<repo>/circuits/main`; mains generated for any other shape go to `<cache>/mains`, never into the
 * package tree (which may be a read-only `node_modules/zktally`).
 */

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

/** The package's circuit templates, relative to the repo root: circom's `-l` library path (setup/compile). */
export const CIRCUIT_LIBRARY_DIR = "circuits/lib";

/** Where mains generated for shapes the package does not ship are written: `<cache>/mains`. */
export function generatedMainsDir(buildDir?: string): string {
  return path.join(buildRoot(buildDir), "mains");
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
