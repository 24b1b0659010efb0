/**
 * @module setup/compile
 *
 * Compiles a main `.circom` file with the circom2 WASM compiler into r1cs + wasm + sym, cached under
 * `<build>/circuits/<id>/<sourceHash>/`, and on request (`nativeWitness`, `ZKTALLY_NATIVE_WITNESS=1`) circom's
 * C++ witness generator of the same sources, built with g++ into `<entry>/witness-cpp/` (buildWitnessGenerator). The cache key (`sourceHash`) is a SHA-256 over the main file and
 * every transitively included file (by repo-relative path and content hash), the compiler version and the
 * flags, so editing any included library file forces a recompile. A compile runs in a staging directory that
 * is renamed into place only when complete, so a killed compile never leaves a usable-looking entry.
 *
 * circom2 runs under WASI and opens an include only under its working directory: the repo root, or where
 * zktally is installed as a dependency the directory that also holds the hoisted circomlib (COMPILER_ROOT).
 * A main may lie outside it (a generated main in a build cache elsewhere, setup/main-files.ts): such a main
 * includes the package's templates by name, found through the library path `-l circuits/lib`.
 * `collectSources` resolves includes the way circom does (next to the including file when circom2 can open
 * files there, then the library paths in order), so the cache key hashes exactly what circom reads; paths in
 * the key stay relative to the repo root.
 *
 * Security caveat: the cache is a convenience, not a trust anchor. Artifacts are pinned by hash in the keys
 * manifest and checked again before proving; constraint counts come from the r1cs header, never from
 * compiler stdout.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { commitStagingDir, makeStagingDir, writeFileAtomic } from "../storage/atomic-write.ts";
import { sha256File } from "../storage/file-digest.ts";
import { canonicalJsonSha256, sha256Hex } from "../util/digest.ts";
import { InputError } from "../util/errors.ts";
import { type Progress, silentProgress } from "../util/progress.ts";
import { parseStrictJson } from "../util/strict-json.ts";
import { readBinSection, readUintLE } from "./binary-reader.ts";
import {
  assertCircuitId,
  buildRoot,
  CIRCUIT_LIBRARY_DIR,
  compiledArtifactPaths,
  compiledCircuitDir,
  REPO_ROOT,
} from "./paths.ts";

/** A compilation failure; `message` carries circom's first error with its `file:line:column`. */
export class CompileError extends InputError {
  constructor(
    message: string,
    /** Repo-relative main file that was being compiled. */
    readonly mainPath: string,
    /** Repo-relative file of the first error, when known. */
    readonly file?: string,
    readonly line?: number,
    readonly column?: number,
    /** Compiler stderr with colour codes removed (empty for errors found before running circom). */
    readonly compilerOutput: string = "",
  ) {
    super(
      "compile_failed",
      message,
      file === undefined ? {} : { path: `${file}:${line ?? 0}:${column ?? 0}` },
    );
  }
}

/** Optimisation level passed to circom (`--O0`, `--O1`, `--O2`). */
export type OptimizationLevel = 0 | 1 | 2;

export interface CompileOptions {
  /** Cache root; default from `ZKTALLY_BUILD_DIR` or `<repo>/build`. */
  readonly buildDir?: string;
  readonly progress?: Progress;
  /** circom optimisation level, default 2 (same as the CLI `--O2`). */
  readonly optimization?: OptimizationLevel;
  /** Recompile even when a cache entry exists (the entry is replaced). */
  readonly force?: boolean;
  /**
   * Also build circom's C++ witness generator (buildWitnessGenerator); default `ZKTALLY_NATIVE_WITNESS=1`.
   * A failed build never fails the compile: it prints one line and the wasm generator is used.
   */
  readonly nativeWitness?: boolean;
}

/** One source file that went into a compile. */
export interface SourceFile {
  /** Path relative to the repo root, with forward slashes (starts with `..` for a main outside it). */
  readonly path: string;
  readonly sha256: string;
}

/** Everything the rest of the pipeline needs to know about a compiled circuit. */
export interface CompiledCircuit {
  /** Circuit id = main file name without `.circom`. */
  readonly id: string;
  /** Repo-relative main file. */
  readonly mainPath: string;
  /** Cache entry directory. */
  readonly dir: string;
  readonly r1csPath: string;
  readonly wasmPath: string;
  readonly symPath: string;
  /** Constraint count from the r1cs header. */
  readonly constraints: number;
  readonly publicInputs: number;
  readonly publicOutputs: number;
  readonly privateInputs: number;
  readonly wires: number;
  /** Cache key: SHA-256 over sources, compiler version and flags. */
  readonly sourceHash: string;
  readonly r1csSha256: string;
  readonly wasmSha256: string;
  readonly sources: readonly SourceFile[];
  /** e.g. "circom2@0.2.23". */
  readonly compiler: string;
  readonly flags: readonly string[];
  /** Compiler warnings (colour codes removed); empty on a cache hit. */
  readonly warnings: readonly string[];
  /** True when served from the cache without running circom. */
  readonly cached: boolean;
}

/** Cache entry metadata written as `compile.json` (the last file written before the entry is committed). */
type CompileMeta = Omit<CompiledCircuit, "dir" | "r1csPath" | "wasmPath" | "symPath" | "warnings" | "cached">;

const META_FILE = "compile.json";
const CACHE_SCHEMA = "zktally/compile-cache/v1";
const require = createRequire(import.meta.url);

/**
 * circomlib's package directory. The templates include it as `../../node_modules/circomlib/...`, right in a
 * clone; in an install circomlib is hoisted next to zktally, and the same path taken from circomlib's own
 * directory (`-l` below) lands on it (`<project>/node_modules/circomlib/../../node_modules/circomlib`).
 */
const CIRCOMLIB_DIR = path.dirname(require.resolve("circomlib/package.json"));

/** circom's library path (`-l`, absolute), tried in this order after the including file's directory. */
const LIBRARY_PATHS = [path.join(REPO_ROOT, CIRCUIT_LIBRARY_DIR), CIRCOMLIB_DIR];

/** circom2's working directory: the deepest directory holding the repo root and circomlib's project root. */
const COMPILER_ROOT = commonAncestor(REPO_ROOT, path.dirname(path.dirname(CIRCOMLIB_DIR)));

function commonAncestor(a: string, b: string): string {
  let dir = a;
  while (!isUnder(dir, b) && dir !== b && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** Whether `file` lies strictly inside `dir`. */
function isUnder(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/** A path as circom2 takes it: relative to its working directory. */
function compilerPath(absolute: string): string {
  return path.relative(COMPILER_ROOT, absolute);
}

/** Compiles `mainPath` (relative to the repo root, possibly `..`), or returns the cached result for identical sources. */
export async function compileCircuit(mainPath: string, opts: CompileOptions = {}): Promise<CompiledCircuit> {
  const progress = opts.progress ?? silentProgress;
  const mainRel = normalizeMainPath(mainPath);
  const id = circuitIdOf(mainRel);
  const flags = compilerFlags(opts.optimization ?? 2);
  const compiler = compilerVersion();
  const sources = await collectSources(mainRel);
  const sourceHash = canonicalJsonSha256({
    schema: CACHE_SCHEMA,
    compiler,
    flags,
    main: mainRel,
    sources: sources.map((s) => [s.path, s.sha256]),
  });
  const dir = compiledCircuitDir(id, sourceHash, opts.buildDir);
  let compiled = opts.force ? undefined : await readCacheEntry(dir, id);
  if (compiled) progress("compile", `${id} cache hit (${compiled.constraints} constraints)`);
  compiled ??= await compileIntoCache({
    id,
    mainRel,
    flags,
    compiler,
    sources,
    sourceHash,
    dir,
    opts,
    progress,
  });
  if (opts.nativeWitness ?? process.env.ZKTALLY_NATIVE_WITNESS === "1") {
    await buildWitnessGenerator(compiled, { progress, force: opts.force }).catch((err: Error) => {
      progress(
        "compile",
        `${id}: native witness generator NOT built (${err.message}); witnesses will use wasm`,
      );
    });
  }
  return compiled;
}

/** The circuit id of a main file: its base name without `.circom`. */
export function circuitIdOf(mainPath: string): string {
  const id = path.basename(mainPath, ".circom");
  assertCircuitId(id);
  return id;
}

function normalizeMainPath(mainPath: string): string {
  if (typeof mainPath !== "string" || !mainPath.endsWith(".circom")) {
    throw new TypeError(`mainPath must be a path ending in .circom, got ${JSON.stringify(mainPath)}`);
  }
  if (path.isAbsolute(mainPath)) {
    throw new TypeError(
      `mainPath must be relative to the repo root ${REPO_ROOT} (circom2 takes relative paths): ${mainPath}`,
    );
  }
  const absolute = path.resolve(REPO_ROOT, mainPath);
  if (!existsSync(absolute))
    throw new CompileError(`main file ${mainPath} not found (at ${absolute})`, mainPath);
  return toRepoPath(absolute);
}

/** Forward-slash path relative to the repo root: how mains and sources are named in the cache key. */
function toRepoPath(absolute: string): string {
  return path.relative(REPO_ROOT, absolute).split(path.sep).join("/");
}

function compilerFlags(optimization: OptimizationLevel): string[] {
  if (optimization !== 0 && optimization !== 1 && optimization !== 2) {
    throw new RangeError(`optimization must be 0, 1 or 2, got ${String(optimization)}`);
  }
  return ["--r1cs", "--wasm", "--sym", `--O${optimization}`, "--prime", "bn128"];
}

function compilerVersion(): string {
  const pkg = require("circom2/package.json") as { version: string };
  return `circom2@${pkg.version}`;
}

/** Reads the main file and all transitive includes, in a stable (path-sorted) order. */
async function collectSources(mainRel: string): Promise<SourceFile[]> {
  const seen = new Map<string, string>();
  const queue = [mainRel];
  while (queue.length > 0) {
    const rel = queue.shift() as string;
    if (seen.has(rel)) continue;
    const text = await readFile(path.join(REPO_ROOT, rel), "utf8");
    seen.set(rel, sha256Hex(text));
    for (const include of parseIncludes(text)) {
      queue.push(resolveInclude(mainRel, rel, include));
    }
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, sha256]) => ({ path: p, sha256 }));
}

interface IncludeDirective {
  readonly target: string;
  readonly line: number;
}

/** `include "..."` directives of a circom source, ignoring commented-out ones. */
export function parseIncludes(source: string): IncludeDirective[] {
  // Blank out comments but keep newlines so line numbers stay right.
  const blanked = source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, " "));
  const found: IncludeDirective[] = [];
  for (const match of blanked.matchAll(/\binclude\s+"([^"]+)"\s*;/g)) {
    const line = blanked.slice(0, match.index).split("\n").length;
    found.push({ target: match[1] as string, line });
  }
  return found;
}

/**
 * The file circom includes for `include` in `fromRel`: next to the including file, else in the library
 * paths in order, the first that exists where circom2 can open it (under COMPILER_ROOT).
 */
function resolveInclude(mainRel: string, fromRel: string, include: IncludeDirective): string {
  const where = `${fromRel}:${include.line}`;
  const fail = (message: string) => new CompileError(message, mainRel, fromRel, include.line);
  if (path.isAbsolute(include.target)) {
    throw fail(`absolute include "${include.target}" at ${where}; use a relative path`);
  }
  const besideFile = path.resolve(REPO_ROOT, path.dirname(fromRel), include.target);
  const candidates = [besideFile, ...LIBRARY_PATHS.map((dir) => path.resolve(dir, include.target))];
  const found = candidates.find((file) => isUnder(COMPILER_ROOT, file) && existsSync(file));
  if (found !== undefined) return toRepoPath(found);
  if (existsSync(besideFile)) {
    throw fail(
      `include "${include.target}" at ${where} is outside ${COMPILER_ROOT}, where circom2 runs and can open includes; ` +
        `include a template of ${CIRCUIT_LIBRARY_DIR} by its name, or keep the sources under ${COMPILER_ROOT} ` +
        `(for a generated main: set ZKTALLY_BUILD_DIR to a directory inside it)`,
    );
  }
  throw fail(
    `included file "${include.target}" not found (at ${where}; looked next to ${fromRel} and in ${CIRCUIT_LIBRARY_DIR} and circomlib)`,
  );
}

async function readCacheEntry(dir: string, id: string): Promise<CompiledCircuit | undefined> {
  const files = compiledArtifactPaths(dir, id);
  const metaPath = path.join(dir, META_FILE);
  if (![metaPath, files.r1cs, files.wasm, files.sym].every((f) => existsSync(f))) return undefined;
  const meta = parseStrictJson(await readFile(metaPath, "utf8")) as CompileMeta;
  if (meta.id !== id || path.basename(dir) !== meta.sourceHash) return undefined;
  return {
    ...meta,
    dir,
    r1csPath: files.r1cs,
    wasmPath: files.wasm,
    symPath: files.sym,
    warnings: [],
    cached: true,
  };
}

interface CompileJob {
  readonly id: string;
  readonly mainRel: string;
  readonly flags: readonly string[];
  readonly compiler: string;
  readonly sources: readonly SourceFile[];
  readonly sourceHash: string;
  readonly dir: string;
  readonly opts: CompileOptions;
  readonly progress: Progress;
}

async function compileIntoCache(job: CompileJob): Promise<CompiledCircuit> {
  const { id, mainRel, dir } = job;
  const staging = await makeStagingDir(path.join(buildRoot(job.opts.buildDir), "circuits", id));
  try {
    const start = performance.now();
    job.progress("compile", `${id} (${mainRel}) …`);
    const warnings = await runCircom(mainRel, job.flags, staging);
    const staged = compiledArtifactPaths(staging, id);
    const header = await readR1csHeader(staged.r1cs);
    const meta: CompileMeta = {
      id,
      mainPath: mainRel,
      constraints: header.nConstraints,
      publicInputs: header.nPubInputs,
      publicOutputs: header.nOutputs,
      privateInputs: header.nPrvInputs,
      wires: header.nWires,
      sourceHash: job.sourceHash,
      r1csSha256: await sha256File(staged.r1cs),
      wasmSha256: await sha256File(staged.wasm),
      sources: job.sources,
      compiler: job.compiler,
      flags: job.flags,
    };
    await writeFileAtomic(path.join(staging, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    // A forced rebuild, or an entry left incomplete by hand, must not block the commit.
    if (job.opts.force || !existsSync(path.join(dir, META_FILE)))
      await rm(dir, { recursive: true, force: true });
    await commitStagingDir(staging, dir);
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    job.progress("compile", `${id} done: ${meta.constraints} constraints in ${seconds} s`);
    const files = compiledArtifactPaths(dir, id);
    return {
      ...meta,
      dir,
      r1csPath: files.r1cs,
      wasmPath: files.wasm,
      symPath: files.sym,
      warnings,
      cached: false,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/**
 * Runs the circom2 CLI in COMPILER_ROOT, with the library paths (not part of `flags`: the cache key hashes
 * the files they resolved to); resolves with warnings, rejects with a `CompileError`. */
function runCircom(mainRel: string, flags: readonly string[], outDir: string): Promise<string[]> {
  const cli = require.resolve("circom2/cli.js");
  const libraries = LIBRARY_PATHS.flatMap((dir) => ["-l", compilerPath(dir)]);
  const main = compilerPath(path.resolve(REPO_ROOT, mainRel));
  const args = [cli, main, ...flags, ...libraries, "-o", compilerPath(outDir)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: COMPILER_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new CompileError(`cannot start circom2: ${e.message}`, mainRel)));
    child.on("close", (code, signal) => {
      const stderr = Buffer.concat(err).toString("utf8").replace(ANSI, "");
      const stdout = Buffer.concat(out).toString("utf8").replace(ANSI, "");
      if (code === 0 && /Everything went okay/.test(stdout)) {
        resolve(
          stderr
            .split("\n")
            .filter((l) => /^\s*warning\[/.test(l))
            .map((l) => l.trim()),
        );
      } else {
        reject(compileErrorFrom(mainRel, `${stderr}\n${stdout}`.trim(), code, signal));
      }
    });
  });
}

/** Builds a `CompileError` from circom's output: first `error[..]` line plus its `┌─ "file":line:col` location. */
export function compileErrorFrom(
  mainRel: string,
  output: string,
  code: number | null,
  signal: NodeJS.Signals | null = null,
): CompileError {
  const clean = output.replace(ANSI, "");
  const error = /error\[([A-Z0-9]+)\]:\s*(.*)/.exec(clean);
  const location = /"([^"\n]+)":(\d+):(\d+)/.exec(clean);
  const status = signal ? `killed by ${signal}` : `exit code ${String(code)}`;
  const what = error
    ? `error[${error[1]}]: ${(error[2] as string).trim()}`
    : (clean
        .split("\n")
        .find((l) => l.trim() !== "" && !/previous errors/.test(l))
        ?.trim() ?? status);
  if (!location)
    return new CompileError(
      `circom failed on ${mainRel}: ${what}`,
      mainRel,
      undefined,
      undefined,
      undefined,
      clean,
    );
  const [, file, line, column] = location as unknown as [string, string, string, string];
  return new CompileError(
    `circom failed on ${mainRel}: ${what} at ${file}:${line}:${column}`,
    mainRel,
    file,
    Number(line),
    Number(column),
    clean,
  );
}

/** Header fields of an r1cs file (iden3 binary format, section 1). */
export interface R1csHeader {
  readonly prime: bigint;
  readonly nWires: number;
  readonly nOutputs: number;
  readonly nPubInputs: number;
  readonly nPrvInputs: number;
  readonly nLabels: bigint;
  readonly nConstraints: number;
}

/**
 * Reads only the header section of an r1cs file (no constraints loaded, no curve worker threads started).
 * Section 1 = u32 n8, prime (n8 bytes LE), u32 nWires, u32 nPubOut, u32 nPubIn, u32 nPrvIn, u64 nLabels,
 * u32 nConstraints.
 */
export async function readR1csHeader(r1csPath: string): Promise<R1csHeader> {
  const body = await readBinSection(r1csPath, "r1cs", 1);
  const n8 = body.readUInt32LE(0);
  const at = 4 + n8;
  return {
    prime: readUintLE(body, 4, n8),
    nWires: body.readUInt32LE(at),
    nOutputs: body.readUInt32LE(at + 4),
    nPubInputs: body.readUInt32LE(at + 8),
    nPrvInputs: body.readUInt32LE(at + 12),
    nLabels: body.readBigUInt64LE(at + 16),
    nConstraints: body.readUInt32LE(at + 24),
  };
}

// ---- circom's C++ witness generator -------------------------------------------------------------------

/** Sub-directory of a compile cache entry that holds its C++ witness generator. */
export const WITNESS_GENERATOR_DIR = "witness-cpp";
const WITNESS_META_FILE = "witness-cpp.json";
const WITNESS_SCHEMA = "zktally/witness-cpp/v1";
/**
 * g++ flags for circom's generated sources (`--no_asm`: portable C++ field code over GMP, no nasm). -O1
 * compiles several times faster than -O3 on these multi-megabyte files (docs/prover.md). Never -DNDEBUG:
 * the generated code stops on failed asserts and constraints through assert(), and would otherwise write a
 * witness for inputs that break the circuit.
 */
const CXX_FLAGS = ["-std=c++17", "-O1", "-Wno-address-of-packed-member"];
const CXX_HINT = "g++, libgmp-dev and nlohmann-json3-dev are needed";

/** A built C++ witness generator: `binaryPath <input.json> <output.wtns>` (it reads `binaryPath + ".dat"`). */
export interface WitnessGenerator {
  readonly binaryPath: string;
  readonly datPath: string;
  /** The compile entry's wasm digest: the generator was built from the same sources and flags. */
  readonly wasmSha256: string;
  readonly binarySha256: string;
  readonly datSha256: string;
  /** True when found already built. */
  readonly cached: boolean;
}

interface WitnessMeta {
  readonly schema: string;
  readonly id: string;
  readonly sourceHash: string;
  readonly wasmSha256: string;
  readonly compiler: string;
  readonly cxxFlags: readonly string[];
  readonly binarySha256: string;
  readonly datSha256: string;
}

/** Files of the C++ witness generator of the compile entry `compileDir`. */
export function witnessGeneratorPaths(compileDir: string, id: string) {
  assertCircuitId(id);
  const dir = path.join(compileDir, WITNESS_GENERATOR_DIR);
  const binary = path.join(dir, id);
  return { dir, binary, dat: `${binary}.dat`, meta: path.join(dir, WITNESS_META_FILE) };
}

/**
 * Builds (or finds, when built from the same compile entry) circom's C++ witness generator for a compiled
 * circuit: `circom --c --no_asm` with the circuit's optimisation level, then g++ (GMP, nlohmann-json), into
 * `<entry>/witness-cpp/`, staged and renamed into place when complete. Throws with the first compiler
 * error when g++ or a library is missing.
 */
export async function buildWitnessGenerator(
  circuit: CompiledCircuit,
  opts: { readonly progress?: Progress; readonly force?: boolean } = {},
): Promise<WitnessGenerator> {
  const progress = opts.progress ?? silentProgress;
  const { id } = circuit;
  if (!opts.force) {
    const found = await readWitnessGenerator(circuit.dir, id, circuit.wasmSha256);
    if ("generator" in found) return found.generator;
  }
  const files = witnessGeneratorPaths(circuit.dir, id);
  const staging = await makeStagingDir(circuit.dir);
  try {
    const start = performance.now();
    progress("compile", `${id}: C++ witness generator (circom --c, g++ ${CXX_FLAGS.join(" ")}) …`);
    const level = circuit.flags.filter((f) => /^--O[012]$/.test(f));
    await runCircom(circuit.mainPath, ["--c", "--no_asm", ...level, "--prime", "bn128"], staging);
    const sources = path.join(staging, `${id}_cpp`);
    await compileGeneratedCpp(sources, id);
    const out = path.join(staging, WITNESS_GENERATOR_DIR);
    await mkdir(out);
    await rename(path.join(sources, id), path.join(out, id));
    await rename(path.join(sources, `${id}.dat`), path.join(out, `${id}.dat`));
    const staged = witnessGeneratorPaths(staging, id);
    const meta: WitnessMeta = {
      schema: WITNESS_SCHEMA,
      id,
      sourceHash: circuit.sourceHash,
      wasmSha256: circuit.wasmSha256,
      compiler: circuit.compiler,
      cxxFlags: CXX_FLAGS,
      binarySha256: await sha256File(staged.binary),
      datSha256: await sha256File(staged.dat),
    };
    await writeFileAtomic(staged.meta, `${JSON.stringify(meta, null, 2)}\n`);
    await rm(files.dir, { recursive: true, force: true });
    await commitStagingDir(out, files.dir);
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    progress("compile", `${id}: C++ witness generator built in ${seconds} s`);
    return generatorOf(files, meta, false);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The C++ witness generator of a compile entry when it is built, from the compile entry whose wasm has
 * digest `wasmSha256`, and its binary and data still have the digests recorded at build time; otherwise
 * the reason it cannot be used.
 */
export async function readWitnessGenerator(
  compileDir: string,
  id: string,
  wasmSha256: string,
): Promise<{ generator: WitnessGenerator } | { reason: string }> {
  const files = witnessGeneratorPaths(compileDir, id);
  if (![files.meta, files.binary, files.dat].every((f) => existsSync(f))) {
    return { reason: "no C++ witness generator built (ZKTALLY_NATIVE_WITNESS=1 at setup builds it)" };
  }
  let meta: WitnessMeta;
  try {
    meta = parseStrictJson(await readFile(files.meta, "utf8")) as WitnessMeta;
  } catch {
    return { reason: `unreadable ${WITNESS_META_FILE}` };
  }
  if (meta.schema !== WITNESS_SCHEMA || meta.id !== id || !Array.isArray(meta.cxxFlags)) {
    return { reason: `${WITNESS_META_FILE} is not a ${WITNESS_SCHEMA} record for ${id}` };
  }
  if (meta.wasmSha256 !== wasmSha256) return { reason: "C++ witness generator built from other sources" };
  const [binary, dat] = await Promise.all([sha256File(files.binary), sha256File(files.dat)]);
  if (binary !== meta.binarySha256 || dat !== meta.datSha256) {
    return { reason: "C++ witness generator files changed since they were built" };
  }
  return { generator: generatorOf(files, meta, true) };
}

function generatorOf(
  files: ReturnType<typeof witnessGeneratorPaths>,
  meta: WitnessMeta,
  cached: boolean,
): WitnessGenerator {
  return {
    binaryPath: files.binary,
    datPath: files.dat,
    wasmSha256: meta.wasmSha256,
    binarySha256: meta.binarySha256,
    datSha256: meta.datSha256,
    cached,
  };
}

/** g++ on circom's four translation units (in parallel), then the link with GMP, into `<dir>/<id>`. */
async function compileGeneratedCpp(dir: string, id: string): Promise<void> {
  const units = ["main", "calcwit", "fr", id];
  const cxx = process.env.CXX || "g++";
  await Promise.all(
    units.map((u) => runCxx(cxx, [...CXX_FLAGS, "-I.", "-c", `${u}.cpp`, "-o", `${u}.o`], dir)),
  );
  await runCxx(cxx, ["-o", id, ...units.map((u) => `${u}.o`), "-lgmp"], dir);
}

function runCxx(cxx: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cxx, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new Error(`cannot run ${cxx} (${e.message}); ${CXX_HINT}`)));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      const text = Buffer.concat(err).toString("utf8").replace(ANSI, "");
      const first = text.split("\n").find((l) => /error/.test(l)) ?? `exit code ${String(code ?? signal)}`;
      reject(new Error(`${cxx} failed: ${first.trim()}; ${CXX_HINT}`));
    });
  });
}
