/**
 * @module circuits/main-files
 *
 * Keeps `circuits/main/<id>.circom` in step with `mainSource(shape)`: the mains are generated, committed for
 * the shapes the project ships, and (re)written only when missing or stale, so a clean clone compiles the
 * exact sources that were reviewed.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "../setup/paths.ts";
import { type AggregateShape, mainPath, mainSource } from "./shape.ts";

/** Writes the main file for `shape` if it is missing or differs; returns its repo-relative path. */
export async function ensureMainFile(shape: AggregateShape): Promise<string> {
  const relative = mainPath(shape);
  const absolute = join(REPO_ROOT, relative);
  const source = mainSource(shape);
  const current = await readFile(absolute, "utf8").catch(() => undefined);
  if (current !== source) {
    await mkdir(dirname(absolute), { recursive: true });
    await writeFile(absolute, source);
  }
  return relative;
}
