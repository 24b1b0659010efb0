/**
 * Chunk-circuit part of `npm run bench:constraints` (docs/design.md 7.6): compiles ChunkStep on the standard
 * shape (8 fields of 32 bits, key = field 0, 4 clauses of 4 constants, count + sum, dataset tree depth 4) at
 * S = 32 and S = 64 records per chunk for the chosen design and its variants, and reports the marginal cost
 * of one more record, (C(64) - C(32)) / 32 (its in-chunk tree share matches that of S = 128 vs 32), and the
 * chosen design at the provisional default S = 128. The per-record-salt option is not a circuit of this project: its
 * cost is the chosen circuit's with the leaf hash replaced, from compiled PoseidonEx(n) probes.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { type ChunkShape, chunkCircuitId, makeChunkShape } from "../src/circuits/chunk-shape.ts";
import {
  defaultLeafRecords,
  domainFromToken,
  type FieldDomain,
  leafElementCount,
} from "../src/dataset/chunk-layout.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { ensureChunkMainFile } from "../src/setup/main-files.ts";
import { REPO_ROOT } from "../src/setup/paths.ts";
import type { Progress } from "../src/util/progress.ts";

const SMALL = 32;
const LARGE = 64;
const DEFAULT_S = 128;
const STANDARD_DOMAINS = Array.from({ length: 8 }, () => domainFromToken("u32"));
/** A realistic 8-field schema: key, a counter, two 16-bit values, two 6-value enums, two bools. */
const NARROW_DOMAINS = ["u32", "u32", "u16", "u16", "e6", "e6", "b", "b"].map(domainFromToken);

interface Variant {
  readonly label: string;
  readonly domains: readonly FieldDomain[];
  readonly keyField: number | undefined;
  /** Records per leaf; default: the layout's default for the domains. */
  readonly leafRecords?: number;
}

const VARIANTS: readonly Variant[] = [
  { label: "chosen: 1 salt/leaf, 8 records/leaf, key chain", domains: STANDARD_DOMAINS, keyField: 0 },
  { label: "narrower leaves: 4 records/leaf", domains: STANDARD_DOMAINS, keyField: 0, leafRecords: 4 },
  { label: "no key field", domains: STANDARD_DOMAINS, keyField: undefined },
  { label: "schema widths u32 u32 u16 u16 e6 e6 b b", domains: NARROW_DOMAINS, keyField: 0 },
];

function shapeOf(variant: Variant, chunkSize: number): ChunkShape {
  const leafRecords = variant.leafRecords ?? defaultLeafRecords(variant.domains, chunkSize);
  return makeChunkShape({
    layout: { version: 2, chunkSize, leafRecords, treeDepth: 4 },
    domains: variant.domains,
    keyField: variant.keyField,
    clauses: 4,
    setSize: 4,
  });
}

async function chunkConstraints(shape: ChunkShape, progress: Progress): Promise<number> {
  return (await compileCircuit(await ensureChunkMainFile(shape), { progress })).constraints;
}

/** Constraints of PoseidonEx(n, 1) alone (a bench-only probe main under build/). */
async function poseidonConstraints(inputs: number, progress: Progress): Promise<number> {
  const relative = `build/bench-probes/poseidon-probe-${inputs}.circom`;
  await mkdir(path.join(REPO_ROOT, "build/bench-probes"), { recursive: true });
  await writeFile(
    path.join(REPO_ROOT, relative),
    `pragma circom 2.1.6;
include "../../node_modules/circomlib/circuits/poseidon.circom";
template Probe(n) {
    signal input in[n];
    signal output out;
    component hash = PoseidonEx(n, 1);
    hash.initialState <== 1;
    hash.inputs <== in;
    out <== hash.out[0];
}
component main = Probe(${inputs});
`,
  );
  return (await compileCircuit(relative, { progress })).constraints;
}

export interface ChunkBench {
  readonly rows: string[][];
  readonly saltRows: string[][];
  /** Marginal constraints per record of the chosen design. */
  readonly marginal: number;
  /** The chosen design at S = 128: id and constraints. */
  readonly chosenId: string;
  readonly chosenConstraints: number;
}

export async function benchChunkConstraints(progress: Progress): Promise<ChunkBench> {
  const rows: string[][] = [];
  let marginal = Number.NaN;
  for (const variant of VARIANTS) {
    const small = await chunkConstraints(shapeOf(variant, SMALL), progress);
    const largeShape = shapeOf(variant, LARGE);
    const large = await chunkConstraints(largeShape, progress);
    const perRecord = (large - small) / (LARGE - SMALL);
    if (rows.length === 0) marginal = perRecord;
    rows.push([
      variant.label,
      String(largeShape.layout.leafRecords),
      String(small),
      String(large),
      perRecord.toFixed(1),
    ]);
  }
  const chosen = shapeOf(VARIANTS[0] as Variant, DEFAULT_S);
  const chosenConstraints = await chunkConstraints(chosen, progress);
  // Leaf hashing per record: one salt per leaf (chosen) against one salt per record.
  const perLeafInputs = 1 + leafElementCount(STANDARD_DOMAINS, 8);
  const perRecordElements = leafElementCount(STANDARD_DOMAINS, 1);
  const perRecordInputs = 4 * (1 + perRecordElements); // 4 records per leaf, each salt + its own elements
  const perLeaf = (await poseidonConstraints(perLeafInputs, progress)) / 8;
  const perRecord = (await poseidonConstraints(perRecordInputs, progress)) / 4;
  const saltRows = [
    [
      "1 salt per leaf (chosen), 8 records/leaf",
      String(perLeafInputs),
      perLeaf.toFixed(1),
      marginal.toFixed(1),
    ],
    [
      "1 salt per record, 4 records/leaf",
      String(perRecordInputs),
      perRecord.toFixed(1),
      (marginal - perLeaf + perRecord).toFixed(1),
    ],
  ];
  return { rows, saltRows, marginal, chosenId: chunkCircuitId(chosen), chosenConstraints };
}
