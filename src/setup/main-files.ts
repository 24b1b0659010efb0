/**
 * @module setup/main-files
 *
 * The main file of a circuit shape, for `compileCircuit`. A main the package ships (`circuits/main/<id>.circom`,
 * committed) is used as is when it equals the generated source, so a clean clone compiles the exact sources
 * that were reviewed. Any other shape, or a shipped main that no longer matches its generator, gets its main
 * written into the build cache (`<cache>/mains/<id>.circom`, paths.ts `generatedMainsDir`) and never into the
 * package tree: an installed `node_modules/zktally` may be read-only and is not ours to change.
 *
 * A cached main includes the templates by name (`include "chunk.circom";`), found through circom's library
 * path `-l circuits/lib` (setup/compile.ts), so it compiles wherever the cache is: circom2 runs under WASI and
 * cannot follow relative includes out of a file that lies outside its working directory (the repo root).
 *
 * Security caveat: a cached main is regenerated whenever it differs from the generator's output, and the
 * compile cache key hashes every source circom reads, so an edited cached main is never compiled silently.
 */
import { readFile } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import {
  type ChunkShape,
  chunkMainPath,
  chunkMainSource,
  type FinalShape,
  finalMainPath,
  finalMainSource,
} from "../circuits/chunk-shape.ts";
import { type NoisyFinalShape, noisyFinalMainPath, noisyFinalMainSource } from "../circuits/noise.ts";
import {
  type NoisyPassShape,
  noisyPassFinalMainPath,
  noisyPassFinalMainSource,
} from "../circuits/pass-noise.ts";
import {
  type PassShape,
  passFinalMainPath,
  passFinalMainSource,
  passMainPath,
  passMainSource,
} from "../circuits/pass-shape.ts";
import { type AggregateShape, mainPath, mainSource } from "../circuits/shape.ts";
import { writeFileAtomic } from "../storage/atomic-write.ts";
import { generatedMainsDir, REPO_ROOT } from "./paths.ts";

/** Writes the main file for `shape` if it is missing or differs; returns the path to compile (main-files module). */
export function ensureMainFile(shape: AggregateShape): Promise<string> {
  return ensureMainSource(mainPath(shape), mainSource(shape));
}

/** Writes the chunk-step main for `shape` if missing or stale; returns the path to compile (main-files module). */
export function ensureChunkMainFile(shape: ChunkShape): Promise<string> {
  return ensureMainSource(chunkMainPath(shape), chunkMainSource(shape));
}

/** Writes the final-step main for `shape` if missing or stale; returns the path to compile (main-files module). */
export function ensureFinalMainFile(shape: FinalShape): Promise<string> {
  return ensureMainSource(finalMainPath(shape), finalMainSource(shape));
}

/** Writes the noisy final-step main (design.md 8) for `shape` if missing or stale; returns its path. */
export function ensureNoisyFinalMainFile(shape: NoisyFinalShape): Promise<string> {
  return ensureMainSource(noisyFinalMainPath(shape), noisyFinalMainSource(shape));
}

/** Writes the pass-step and pass-final mains for `shape` if missing or stale; returns both paths. */
export async function ensurePassMainFiles(shape: PassShape): Promise<[string, string]> {
  return [
    await ensureMainSource(passMainPath(shape), passMainSource(shape)),
    await ensureMainSource(passFinalMainPath(shape), passFinalMainSource(shape)),
  ];
}

/** Writes the noisy pass-final main (noisy histogram cells) for `shape` if missing or stale; returns its path. */
export function ensureNoisyPassFinalMainFile(shape: NoisyPassShape): Promise<string> {
  return ensureMainSource(noisyPassFinalMainPath(shape), noisyPassFinalMainSource(shape));
}

/**
 * `shippedPath` (repo-relative) when the package ships it with exactly `source`; otherwise the main written
 * into the build cache, as a path relative to the repo root (what `compileCircuit` takes; it starts with
 * `..` when the cache lies outside the repo).
 */
async function ensureMainSource(shippedPath: string, source: string): Promise<string> {
  if ((await readIfExists(join(REPO_ROOT, shippedPath))) === source) return shippedPath;
  const cached = join(generatedMainsDir(), basename(shippedPath));
  const cachedSource = withLibraryIncludes(source);
  if ((await readIfExists(cached)) !== cachedSource) await writeFileAtomic(cached, cachedSource);
  return relative(REPO_ROOT, cached).split(sep).join("/");
}

function readIfExists(file: string): Promise<string | undefined> {
  return readFile(file, "utf8").catch(() => undefined);
}

/** The generators write `include "../lib/<name>";` (right from circuits/main); a cached main names the file. */
function withLibraryIncludes(source: string): string {
  return source.replace(/^include "\.\.\/lib\/([^"/]+)";$/gm, 'include "$1";');
}
