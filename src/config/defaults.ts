/**
 * @module config/defaults
 *
 * The embedded defaults the CLI and the service run on (below both, so neither imports the other): the default circuit shapes, the sample dataset and where local state
 * goes (keys/ for pinned verification keys, build/ for the compile and setup cache, .zktally/ for secrets).
 */
import { join } from "node:path";
import { type AggregateShape, STANDARD_SHAPE } from "../circuits/shape.ts";
import { REPO_ROOT } from "../setup/paths.ts";

/**
 * The default circuit: 64 record slots of 8 fields x 32 bits, 4 clauses of up to 4 constants, 4 records per
 * leaf, a 16-ary tree (docs/design.md). One setup serves every query of this shape.
 */
export const DEFAULT_SHAPE: AggregateShape = STANDARD_SHAPE;

export const DEFAULT_SHAPES: readonly AggregateShape[] = [DEFAULT_SHAPE];

export const SAMPLE_DIR = join(REPO_ROOT, "examples", "wikimedia");
export const SAMPLE_SCHEMA = join(SAMPLE_DIR, "schema.json");
export const SAMPLE_DATA = join(SAMPLE_DIR, "editors.csv");

export const KEYS_DIR = process.env.ZKTALLY_KEYS_DIR ?? join(REPO_ROOT, "keys");
export const DATA_DIR = process.env.ZKTALLY_DATA_DIR ?? join(REPO_ROOT, ".zktally");
