/**
 * @module setup/main-files
 *
 * Keeps `circuits/main/<id>.circom` in step with `mainSource(shape)`: the mains are generated, committed for
 * the shapes the project ships, and (re)written only when missing or stale, so a clean clone compiles the
 * exact sources that were reviewed.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
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
import { REPO_ROOT } from "./paths.ts";

/** Writes the main file for `shape` if it is missing or differs; returns its repo-relative path. */
export function ensureMainFile(shape: AggregateShape): Promise<string> {
  return ensureMainSource(mainPath(shape), mainSource(shape));
}

/** Writes the chunk-step main for `shape` if missing or stale; returns its repo-relative path. */
export function ensureChunkMainFile(shape: ChunkShape): Promise<string> {
  return ensureMainSource(chunkMainPath(shape), chunkMainSource(shape));
}

/** Writes the final-step main for `shape` if missing or stale; returns its repo-relative path. */
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

async function ensureMainSource(relative: string, source: string): Promise<string> {
  const absolute = join(REPO_ROOT, relative);
  const current = await readFile(absolute, "utf8").catch(() => undefined);
  if (current !== source) {
    await mkdir(dirname(absolute), { recursive: true });
    await writeFile(absolute, source);
  }
  return relative;
}
