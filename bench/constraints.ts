/**
 * Constraint benchmark (`npm run bench:constraints`): compiles the standard shape (64 records of 8 fields x 32
 * bits, 4 clauses, count + sum) and design variants, prints constraints per record, then proves one query on
 * the default circuit with snarkjs and prints the proving time. Then the chunk circuits of layout v2 on the
 * same shape (bench/chunk-constraints.ts). The last line is `constraints per record: N`, the chunk circuit's
 * marginal cost of one more record (the target: at most 700).
 */
import { randomBytes } from "node:crypto";
import { type AggregateShape, circuitId, makeShape, STANDARD_SHAPE } from "../src/circuits/shape.ts";
import { ensureDevKeys } from "../src/cli/dev-keys.ts";
import { renderTable } from "../src/cli/table.ts";
import { DEFAULT_SHAPE, KEYS_DIR } from "../src/config/defaults.ts";
import { commitRecords } from "../src/dataset/committed.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { proveQuery } from "../src/prover/prove-query.ts";
import { createSnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { ensureMainFile } from "../src/setup/main-files.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { benchChunkConstraints } from "./chunk-constraints.ts";

const progress = consoleProgress({ tag: "bench" });

async function constraintsOf(shape: AggregateShape): Promise<number> {
  const compiled = await compileCircuit(await ensureMainFile(shape), { progress });
  return compiled.constraints;
}

const variants: { label: string; shape: AggregateShape }[] = [
  { label: "standard (chosen): 4 records/leaf, 16-ary tree", shape: STANDARD_SHAPE },
  {
    label: "same, 16 records (for the marginal cost)",
    shape: makeShape({ ...STANDARD_SHAPE, capacity: 16, arity: 4 }),
  },
  {
    label: "variant: 1 record/leaf, 4-ary tree",
    shape: makeShape({ ...STANDARD_SHAPE, leafRecords: 1, arity: 4 }),
  },
  {
    label: "variant: 2 records/leaf, 2-ary tree",
    shape: makeShape({ ...STANDARD_SHAPE, leafRecords: 2, arity: 2, capacity: 64 }),
  },
];

async function main(): Promise<void> {
  const rows: string[][] = [];
  const totals = new Map<string, number>();
  for (const { label, shape } of variants) {
    const constraints = await constraintsOf(shape);
    totals.set(circuitId(shape), constraints);
    rows.push([circuitId(shape), label, String(constraints), (constraints / shape.capacity).toFixed(1)]);
  }
  const standard = totals.get(circuitId(STANDARD_SHAPE)) as number;
  const small = totals.get(circuitId(variants[1]?.shape as AggregateShape)) as number;
  const marginal = (standard - small) / (STANDARD_SHAPE.capacity - 16);

  // Proving time of one circuit: the default circuit, whose development keys npm start builds.
  await ensureDevKeys(DEFAULT_SHAPE, KEYS_DIR, progress);
  const operator = generateOperatorKey();
  const schema = parseSchema({
    fields: Array.from({ length: DEFAULT_SHAPE.fields }, (_, i) => ({
      name: `f${i}`,
      type: "uint",
      bits: 32,
    })),
  });
  const records = Array.from({ length: DEFAULT_SHAPE.capacity }, (_, r) =>
    Array.from({ length: DEFAULT_SHAPE.fields }, (_, f) => BigInt((r * 7919 + f * 104729) % 2 ** 32)),
  );
  const dataset = await commitRecords({
    datasetId: "bench",
    epoch: 1,
    schema,
    records,
    layout: DEFAULT_SHAPE,
    secret: randomBytes(32),
    operatorSecretKey: operator.secretKey,
    circuits: [circuitId(DEFAULT_SHAPE)],
  });
  const backend = createSnarkjsBackend({ keysDir: KEYS_DIR });
  const query = {
    predicate: [
      { field: "f0", op: "gte", value: 1000 },
      { field: "f1", op: "between", value: [5, 3_000_000_000] },
      { field: "f2", op: "neq", value: 7 },
      { field: "f3", op: "in", value: [1, 2, 3, 4] },
    ],
    aggregate: { kind: "sum", field: "f4" },
  };
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const proof = await proveQuery(backend, {
      dataset,
      shape: DEFAULT_SHAPE,
      query,
      minGroupSize: 0,
      nonce: BigInt(run),
    });
    times.push(proof.timings.witnessMs + proof.timings.proveMs);
  }
  await backend.close();
  times.sort((a, b) => a - b);
  const defaultConstraints = await constraintsOf(DEFAULT_SHAPE);

  console.log("");
  console.log(
    "Standard shape: 64 records x 8 fields x 32 bits, 4 clauses (eq/neq/lt/lte/gt/gte/between/in), count + sum",
  );
  console.log("");
  for (const line of renderTable(["circuit", "design", "constraints", "per record"], rows)) console.log(line);
  console.log("");
  console.log(`marginal cost of one more record (64 vs 16 records): ${marginal.toFixed(1)} constraints`);
  console.log(
    `proving time, ${circuitId(DEFAULT_SHAPE)} (${defaultConstraints} constraints), snarkjs, median of 3: ${(
      (times[1] as number) / 1000
    ).toFixed(2)} s`,
  );
  console.log(
    `aggregate constraints per record (64 slots, overhead included): ${Math.round(standard / STANDARD_SHAPE.capacity)}`,
  );

  const chunk = await benchChunkConstraints(progress);
  console.log("");
  console.log(
    "Chunk circuit (layout v2), same shape with key = field 0, dataset tree depth 4; marginal = (C(64) - C(32)) / 32",
  );
  console.log("");
  const chunkHeader = ["design", "records/leaf", "S = 32", "S = 64", "marginal"];
  for (const line of renderTable(chunkHeader, chunk.rows)) console.log(line);
  console.log("");
  const saltHeader = ["salts", "leaf inputs", "leaf hash per record", "marginal"];
  for (const line of renderTable(saltHeader, chunk.saltRows)) console.log(line);
  console.log("");
  console.log(
    `chunk circuit at the default S = 128: ${chunk.chosenId}, ${chunk.chosenConstraints} constraints (${(chunk.chosenConstraints / 128).toFixed(1)} per record, overhead included)`,
  );
  console.log(`constraints per record: ${Math.round(chunk.marginal)}`);
}

main()
  .then(terminateCurveWorkers)
  .catch(async (error) => {
    await terminateCurveWorkers();
    console.error(error);
    process.exitCode = 1;
  });
