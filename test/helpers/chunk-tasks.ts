/**
 * @module test/helpers/chunk-tasks
 *
 * Chunk tasks on the test circuit (TEST_SHAPE) for the pool and distributed-proving tests: until the chained
 * chunk circuits exist, one "chunk" is one proof of the test circuit over a small committed dataset, each
 * with its own query and nonce, so results can be told apart and checked in order. Also every secret the
 * tasks carry (record values, packed slots, salts) for the tests that search Redis for leaks.
 *
 * The record values are distinctive (never a query constant, nonce or count) so a search for them in
 * decimal or hexadecimal cannot hit a public value by chance.
 */
import { circuitId } from "../../src/circuits/shape.ts";
import { type CommittedDataset, commitRecords } from "../../src/dataset/committed.ts";
import type { Schema } from "../../src/dataset/schema.ts";
import type { ChunkTask } from "../../src/prover/chunks.ts";
import { planQueryProof } from "../../src/prover/prove-query.ts";
import { EDITORS_SCHEMA, TEST_SHAPE } from "./circuits.ts";

export const CHUNK_CIRCUIT_ID = circuitId(TEST_SHAPE);

const SCHEMA: Schema = EDITORS_SCHEMA;

/** userId, country, edits, bot: userIds and edits are distinctive 5-digit values. */
const RECORDS: bigint[][] = [
  [48611n, 1n, 31337n, 0n],
  [49727n, 1n, 29573n, 0n],
  [50833n, 0n, 37813n, 1n],
  [51949n, 2n, 43691n, 0n],
  [53051n, 0n, 24697n, 0n],
];

const OPERATOR_SECRET = new Uint8Array(32).fill(9);

export interface ChunkFixture {
  readonly dataset: CommittedDataset;
  readonly tasks: ChunkTask[];
  /** The private values in the tasks worth searching for: distinctive record fields and every salt. */
  readonly secrets: readonly bigint[];
}

/** `count` tasks: chunk i counts the records with edits >= 25000 + 1000 i, nonce 7000 + i. */
export async function chunkFixture(count: number): Promise<ChunkFixture> {
  const dataset = await commitRecords({
    datasetId: "chunk-fixture",
    epoch: 1,
    schema: SCHEMA,
    records: RECORDS,
    layout: TEST_SHAPE,
    secret: new Uint8Array(32).fill(5),
    operatorSecretKey: OPERATOR_SECRET,
    circuits: [CHUNK_CIRCUIT_ID],
    createdAt: "2026-01-01T00:00:00.000Z",
  });
  const tasks = Array.from({ length: count }, (_, i) => {
    const plan = planQueryProof({
      dataset,
      shape: TEST_SHAPE,
      query: {
        predicate: [{ field: "edits", op: "gte", value: 25_000 + 1000 * i }],
        aggregate: { kind: "count" },
      },
      minGroupSize: 0,
      nonce: BigInt(7000 + i),
    });
    return plan.tasks[0] as ChunkTask;
  });
  const distinctive = RECORDS.flatMap((record) => [record[0] as bigint, record[2] as bigint]);
  const secrets = [...distinctive, ...dataset.commitment.slots.salts];
  return { dataset, tasks, secrets };
}

/** A copy of `task` whose witness violates a constraint (a padding flag of 2: flags must be boolean). */
export function poisoned(task: ChunkTask): ChunkTask {
  const input = structuredClone(task.input) as { flags: string[] };
  input.flags[input.flags.length - 1] = "2";
  return { ...task, input };
}
