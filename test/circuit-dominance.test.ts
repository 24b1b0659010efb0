/**
 * The proven dominance rule (issue 10, point 3; circuits/lib/suppression.circom): a sum where one matching
 * record contributes more than the policy's share of the total is suppressed.
 * - MaxOf alone (a tiny probe main): the maximum is exactly the largest input; a "maximum" that is not the
 *   largest, that no input has (e.g. a non-matching record's raw value, whose contribution is 0), or that is
 *   above every input violates a constraint.
 * - Aggregate (TEST_SHAPE): random datasets, sums and shares agree with the reference evaluator; the flag
 *   cannot be flipped; the share is bound by the minGroupSize element and must be at most 100.
 * - ChunkFinal: the decision from the opened accumulator's max and sum, at the boundary (exactly the share is
 *   answered), for sums only; an accumulator opened to another max, a flipped flag or another share fails.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { aggregateCircuitInput } from "../src/circuits/aggregate-witness.ts";
import { chunkQueryShape, type FinalShape, finalShapeOf } from "../src/circuits/chunk-shape.ts";
import { checkChainSignals, type FinalPublicInputs } from "../src/circuits/chunk-statement.ts";
import {
  type AccumulatorState,
  accumulatorCommitment,
  finalOutputs,
  finalStepInput,
  planChain,
} from "../src/circuits/chunk-witness.ts";
import { type AggregatePublicInputs, suppressionElement } from "../src/circuits/public-signals.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { commitDataset, getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import type { Schema } from "../src/dataset/schema.ts";
import { evaluateQuery, isDominated } from "../src/query/evaluate.ts";
import { AGGREGATE_MODE, encodeAggregateElement, encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { REPO_ROOT } from "../src/setup/paths.ts";
import {
  CHUNK_TEST_SCHEMA,
  CHUNK_TEST_SHAPE,
  EDITORS_SCHEMA,
  loadChunkShape,
  loadFinalShape,
  loadShape,
  TEST_SHAPE,
} from "./helpers/circuits.ts";
import { edit, firstViolation, type LoadedCircuit, loadCircuit, satisfies, wire } from "./helpers/r1cs.ts";
import { createRng } from "./helpers/random.ts";

const PROBE_BITS = 8;
const PROBE_VALUES = 4;
const PROBE_MAIN = "build/test-mains/max-of-probe.circom";
const finalShape: FinalShape = { clauses: 3, width: 16 };
let probe: LoadedCircuit;
let aggregate: LoadedCircuit;
let final: LoadedCircuit;
let poseidon: PoseidonEx;

async function loadProbe(): Promise<LoadedCircuit> {
  await mkdir(path.join(REPO_ROOT, "build/test-mains"), { recursive: true });
  await writeFile(
    path.join(REPO_ROOT, PROBE_MAIN),
    `pragma circom 2.1.6;
include "../../circuits/lib/suppression.circom";
template MaxOfProbe() {
    signal input prior;
    signal input values[${PROBE_VALUES}];
    signal output out;
    component maxOf = MaxOf(${PROBE_VALUES}, ${PROBE_BITS});
    maxOf.prior <== prior;
    maxOf.values <== values;
    out <== maxOf.out;
}
component main = MaxOfProbe();
`,
  );
  return loadCircuit(await compileCircuit(PROBE_MAIN));
}

beforeAll(async () => {
  poseidon = await getPoseidon();
  [probe, aggregate, final] = await Promise.all([
    loadProbe(),
    loadShape(TEST_SHAPE),
    loadFinalShape(finalShape),
  ]);
}, 600_000);

/**
 * The probe's witness with MaxOf's output replaced by `claimed` and every dependent wire recomputed as a
 * cheating prover would (the low bits of each difference; signals the optimiser removed are skipped).
 */
function claimMax(w: readonly bigint[], prior: bigint, values: readonly bigint[], claimed: bigint): bigint[] {
  const changes: Record<number, bigint> = {};
  const set = (name: string, value: bigint) => {
    const index = probe.signals.get(`main.${name}`);
    if (index !== undefined) changes[index] = value;
  };
  set("out", claimed);
  set("maxOf.out", claimed);
  [...values, prior].forEach((value, i) => {
    const room = (((claimed - value) % 256n) + 256n) % 256n;
    for (let b = 0; b < PROBE_BITS; b++) set(`maxOf.room[${i}].out[${b}]`, (room >> BigInt(b)) & 1n);
  });
  let attained = claimed - prior;
  set("maxOf.attained[0]", attained);
  values.forEach((value, i) => {
    attained *= claimed - value;
    set(`maxOf.attained[${i + 1}]`, attained);
  });
  return edit(w, changes);
}

describe("MaxOf: the maximum, proven", () => {
  it("outputs the largest input, and nothing else satisfies the constraints", async () => {
    const rng = createRng(20261201);
    for (let run = 0; run < 40; run++) {
      const prior = BigInt(rng.int(0, 255));
      const values = Array.from({ length: PROBE_VALUES }, () => BigInt(rng.int(0, 255)));
      const w = await probe.witness({ prior: String(prior), values: values.map(String) });
      const max = [prior, ...values].reduce((a, b) => (b > a ? b : a));
      expect(w[wire(probe, "out")]).toBe(max);
      expect(satisfies(probe, w)).toBe(true);
      const claimed = BigInt(rng.int(0, 255));
      if (claimed !== max)
        expect(satisfies(probe, claimMax(w, prior, values, claimed)), `${claimed}`).toBe(false);
    }
  });

  it("rejects a max below the largest contribution, one no record contributes, and one above all", async () => {
    // Contributions of 4 records; the second does not match, so it contributes 0 although its value is 200.
    const values = [5n, 0n, 7n, 3n];
    const w = await probe.witness({ prior: "0", values: values.map(String) });
    expect(w[wire(probe, "out")]).toBe(7n);
    expect(satisfies(probe, claimMax(w, 0n, values, 7n))).toBe(true); // the recomputation itself is honest
    expect(satisfies(probe, claimMax(w, 0n, values, 5n))).toBe(false); // not the max
    expect(satisfies(probe, claimMax(w, 0n, values, 200n))).toBe(false); // from a record not matching
    expect(satisfies(probe, claimMax(w, 0n, values, 8n))).toBe(false); // an upper bound nobody attains
  });

  it("+1 on any single wire breaks a constraint", async () => {
    const w = await probe.witness({ prior: "9", values: ["5", "9", "200", "200"] });
    for (let index = 1; index < probe.nWires; index++) {
      const touched = probe.byWire.get(index);
      if (!touched) continue;
      const edited = edit(w, { [index]: (w[index] as bigint) + 1n });
      expect(firstViolation(probe.constraints, edited, touched), `wire ${index}`).not.toBe(-1);
    }
  });
});

const schema: Schema = EDITORS_SCHEMA;
const sumFr: Query = {
  predicate: [{ field: "country", op: "eq", value: "FR" }],
  aggregate: { kind: "sum", field: "edits" },
};

async function aggregateStatement(
  records: bigint[][],
  query: Query,
  dominanceShare: number,
  minGroupSize = 0,
) {
  const commitment = await commitDataset({
    layout: TEST_SHAPE,
    records,
    secret: new Uint8Array(32).fill(3),
    datasetId: "dominance",
    epoch: 1,
  });
  const inputs: AggregatePublicInputs = {
    root: commitment.root,
    recordCount: records.length,
    minGroupSize,
    dominanceShare,
    nonce: 99n,
    query: encodeQueryPublic(query, schema, TEST_SHAPE),
  };
  const input = aggregateCircuitInput(TEST_SHAPE, commitment.slots, inputs);
  return { input, witness: await aggregate.witness(input) };
}

const outputsOf = (circuit: LoadedCircuit, w: readonly bigint[]) => [
  w[wire(circuit, "suppressed")],
  w[wire(circuit, "answer")],
];

describe("Aggregate: dominated sums are suppressed", () => {
  it("agrees with the reference evaluator on random datasets, sums and shares", async () => {
    const rng = createRng(20261202);
    let dominated = 0;
    for (let run = 0; run < 40; run++) {
      const records = Array.from({ length: rng.int(1, TEST_SHAPE.capacity) }, (_, i) => [
        BigInt(100 + i),
        BigInt(rng.int(0, 2)),
        BigInt(rng.bool(0.3) ? rng.int(0, 65_535) : rng.int(0, 50)),
        BigInt(rng.int(0, 1)),
      ]);
      const share = rng.pick([0, 1, 25, 50, 67, 99, 100]);
      const minGroupSize = rng.bool(0.3) ? rng.int(1, 3) : 0;
      const s = await aggregateStatement(records, sumFr, share, minGroupSize);
      const reference = evaluateQuery(sumFr, schema, records, { minGroupSize, dominanceShare: share });
      const context = `run ${run} share ${share}`;
      expect(satisfies(aggregate, s.witness), context).toBe(true);
      expect(outputsOf(aggregate, s.witness), context).toEqual([
        reference.suppressed ? 1n : 0n,
        reference.answer,
      ]);
      if (reference.suppressed && minGroupSize === 0) dominated++;
    }
    expect(dominated).toBeGreaterThan(3);
  });

  it("suppresses a sum two thirds of which is one record, and answers it without the rule", async () => {
    const records = [
      [1n, 1n, 200n, 0n],
      [2n, 1n, 50n, 0n],
      [3n, 1n, 50n, 0n],
      [4n, 0n, 9000n, 0n], // not French: its value is not the max of the matching records
    ];
    const on = await aggregateStatement(records, sumFr, 50);
    expect(outputsOf(aggregate, on.witness)).toEqual([1n, 0n]);
    expect(outputsOf(aggregate, (await aggregateStatement(records, sumFr, 67)).witness)).toEqual([0n, 300n]);
    expect(outputsOf(aggregate, (await aggregateStatement(records, sumFr, 0)).witness)).toEqual([0n, 300n]);
    // The flag cannot be flipped, nor the answer revealed.
    expect(satisfies(aggregate, edit(on.witness, { [wire(aggregate, "suppressed")]: 0n }))).toBe(false);
    expect(satisfies(aggregate, edit(on.witness, { [wire(aggregate, "answer")]: 300n }))).toBe(false);
    // Another share in the statement (50 -> 67) breaks the proof of this witness.
    const element = wire(aggregate, "minGroupSize");
    expect(satisfies(aggregate, edit(on.witness, { [element]: suppressionElement(0, 67) }))).toBe(false);
  });

  it("refuses a share above 100 or past the element's 39 bits", async () => {
    const records = [[1n, 1n, 10n, 0n]];
    const s = await aggregateStatement(records, sumFr, 0);
    for (const element of [101n << 32n, 127n << 32n, 1n << 39n]) {
      const forged = await aggregate.forgedWitness({ ...s.input, minGroupSize: String(element) });
      expect(satisfies(aggregate, forged), String(element)).toBe(false);
    }
    expect(() => suppressionElement(0, 101)).toThrow(/dominanceShare/);
  });
});

function finalStatement(state: AccumulatorState, mode: 0 | 1, dominanceShare: number) {
  const opening = { state, blind: 4242n };
  const inputs: FinalPublicInputs = {
    root: 42n,
    recordCount: Number(state.realSeen),
    minGroupSize: 0,
    dominanceShare,
    nonce: 7n,
    query: {
      aggregate: encodeAggregateElement({ mode, sumField: mode === 1 ? 2 : 0, k: 0n }, finalShape.width),
      clauses: [11n, 22n, 33n],
    },
    accIn: accumulatorCommitment(poseidon, opening),
  };
  return { inputs, input: finalStepInput(inputs, opening) };
}

describe("ChunkFinal: the decision from the accumulator's max", () => {
  const state: AccumulatorState = { realSeen: 30n, keyFloor: 0n, count: 10n, sum: 1000n, max: 500n };

  it("answers exactly the share, suppresses one more, and leaves counts alone", async () => {
    const cases: [AccumulatorState, 0 | 1, number, [bigint, bigint]][] = [
      [state, AGGREGATE_MODE.sum, 50, [0n, 1000n]], // 500 is exactly 50%: not more
      [{ ...state, max: 501n }, AGGREGATE_MODE.sum, 50, [1n, 0n]],
      [{ ...state, max: 501n }, AGGREGATE_MODE.sum, 51, [0n, 1000n]],
      [{ ...state, max: 501n }, AGGREGATE_MODE.sum, 0, [0n, 1000n]],
      [{ ...state, max: 900n }, AGGREGATE_MODE.count, 10, [0n, 10n]],
      [{ ...state, sum: 0n, max: 0n }, AGGREGATE_MODE.sum, 1, [0n, 0n]],
    ];
    for (const [s, mode, share, expected] of cases) {
      const { inputs, input } = finalStatement(s, mode, share);
      const w = await final.witness(input);
      expect(outputsOf(final, w), `${s.max} ${mode} ${share}`).toEqual(expected);
      const twin = finalOutputs(finalShape, inputs, s);
      expect([twin.suppressed, twin.answer]).toEqual(expected);
      expect(isDominated(s.max, s.sum, share) && mode === 1).toBe(expected[0] === 1n);
    }
  });

  it("rejects a max opened to another value, a flipped flag and another share", async () => {
    const dominated = finalStatement({ ...state, max: 501n }, AGGREGATE_MODE.sum, 50);
    const w = await final.witness(dominated.input);
    for (const max of ["500", "0"]) {
      const forged = await final.forgedWitness({ ...dominated.input, max });
      expect(satisfies(final, forged), max).toBe(false);
    }
    expect(satisfies(final, edit(w, { [wire(final, "suppressed")]: 0n }))).toBe(false);
    expect(satisfies(final, edit(w, { [wire(final, "answer")]: 1000n }))).toBe(false);
    const element = wire(final, "minGroupSize");
    expect(satisfies(final, edit(w, { [element]: suppressionElement(0, 51) }))).toBe(false);
  });
});

describe("chains: the max travels in the hidden accumulators", () => {
  it("a dominant record in a later chunk suppresses the chain's sum; the chain check binds the share", async () => {
    const chunkCircuit = await loadChunkShape(CHUNK_TEST_SHAPE);
    const finalCircuit = await loadFinalShape(finalShapeOf(CHUNK_TEST_SHAPE));
    // userId, country (1 = FR), edits, bot, level: 20 records over 2 chunks; record 18 (chunk 1) has 3000 of
    // the French total 3000 + 17 * 10 = 3170 (95%); the non-French record 19 has more, but does not match
    // (records 0 and 19 are not French, so the complement is not small either).
    const records = Array.from({ length: 20 }, (_, i) => [
      BigInt(10 + i),
      i === 0 || i === 19 ? 0n : 1n,
      i === 18 ? 3000n : i === 19 ? 60_000n : 10n,
      0n,
      0n,
    ]);
    const committed = commitChunks(poseidon, {
      layout: CHUNK_TEST_SHAPE.layout,
      domains: CHUNK_TEST_SHAPE.domains,
      keyField: CHUNK_TEST_SHAPE.keyField,
      records,
      secret: new Uint8Array(32).fill(5),
      datasetId: "dominance",
      epoch: 1,
    });
    const sumFrench: Query = {
      predicate: [{ field: "country", op: "eq", value: "FR" }],
      aggregate: { kind: "sum", field: "edits" },
    };
    const query = encodeQueryPublic(sumFrench, CHUNK_TEST_SCHEMA, chunkQueryShape(CHUNK_TEST_SHAPE));
    for (const [share, expected] of [
      [50, { suppressed: 1n, answer: 0n }],
      [96, { suppressed: 0n, answer: 3170n }],
    ] as const) {
      const plan = planChain(poseidon, CHUNK_TEST_SHAPE, committed, {
        nonce: 5n,
        query,
        minGroupSize: 2,
        dominanceShare: share,
      });
      expect(plan.outputs).toEqual(expected);
      const reference = evaluateQuery(sumFrench, CHUNK_TEST_SCHEMA, records, {
        minGroupSize: 2,
        dominanceShare: share,
      });
      expect([reference.suppressed ? 1n : 0n, reference.answer]).toEqual([
        expected.suppressed,
        expected.answer,
      ]);
      const chunkSignals: string[][] = [];
      for (const chunk of plan.chunks) {
        const w = await chunkCircuit.witness(chunk.input);
        expect(satisfies(chunkCircuit, w)).toBe(true);
        chunkSignals.push(w.slice(1, 1 + chunkCircuit.nPublic).map(String));
        expect(chunkSignals.at(-1)).toEqual(chunk.publicSignals);
      }
      expect(plan.final.input.max).toBe("3000");
      const w = await finalCircuit.witness(plan.final.input);
      const finalSignals = w.slice(1, 1 + finalCircuit.nPublic).map(String);
      expect(finalSignals).toEqual(plan.final.publicSignals);
      const statement = {
        root: committed.root,
        recordCount: committed.recordCount,
        chunkSize: CHUNK_TEST_SHAPE.layout.chunkSize,
        chunkCount: committed.chunkCount,
        minGroupSize: 2,
        dominanceShare: share,
        nonce: 5n,
        query,
        outputs: plan.outputs,
      };
      expect(checkChainSignals(statement, chunkSignals, finalSignals)).toEqual({ ok: true });
      const other = checkChainSignals({ ...statement, dominanceShare: 0 }, chunkSignals, finalSignals);
      expect(other).toEqual({
        ok: false,
        at: "final",
        reason: "final proof: minGroupSize or dominanceShare differs from the statement",
      });
    }
  });
});
