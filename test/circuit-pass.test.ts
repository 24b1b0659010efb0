/**
 * Witness-level tests of circuits/lib/pass.circom (PassStep) and pass-final.circom (PassFinal) with their
 * TypeScript twin (src/circuits/pass-witness.ts) and the chain checks of src/circuits/pass-statement.ts:
 * random chains with batches of Q queries (DNF predicates, count / sum / threshold / avg, one- and two-field
 * histograms of counts and sums, with and without suppression) must satisfy every constraint and close on
 * exactly the reference evaluator's answers (query/pass-evaluate.ts); the suppression rule is checked by brute
 * force to leave no hidden cell recoverable; and each soundness attack breaks a constraint or a chain check.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { chunkQueryShape } from "../src/circuits/chunk-shape.ts";
import { passQueryShape } from "../src/circuits/pass-shape.ts";
import {
  checkPassChainSignals,
  loweredPassFromPublic,
  type PassChainStatement,
  paddingResult,
  passOutputsOf,
} from "../src/circuits/pass-statement.ts";
import { type PassChainPlan, planPassChain } from "../src/circuits/pass-witness.ts";
import { type ChunkedCommitment, commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { type CircuitClause, encodeClauseElement, maxValue } from "../src/query/lower.ts";
import type { Clause } from "../src/query/model.ts";
import {
  encodePassAggregate,
  encodePassPublic,
  type PassPublicElements,
  type PassQuery,
  passClauseSlots,
  passClauses,
} from "../src/query/pass.ts";
import { evaluatePass, evaluatePassLowered, histogramOutcome } from "../src/query/pass-evaluate.ts";
import { CHUNK_TEST_SCHEMA, loadPassShape, PASS_TEST_SHAPE } from "./helpers/circuits.ts";
import { edit, type LoadedCircuit, satisfies, wire } from "./helpers/r1cs.ts";
import { createRng, type Rng, randomQuery, randomRecords } from "./helpers/random.ts";

const schema = CHUNK_TEST_SCHEMA;
const shape = PASS_TEST_SHAPE;
const queryShape = passQueryShape(shape);
const S = shape.chunk.layout.chunkSize;
let poseidon: PoseidonEx;
let step: LoadedCircuit;
let final: LoadedCircuit;

beforeAll(async () => {
  poseidon = await getPoseidon();
  [step, final] = await loadPassShape(shape);
}, 900_000);

const HISTOGRAMS: PassQuery["aggregate"][] = [
  { kind: "histogram", by: ["country"] },
  { kind: "histogram", by: ["bot"] },
  { kind: "histogram", by: ["country", "bot"] },
  { kind: "histogram", by: ["bot", "country"], sum: "edits" },
  { kind: "histogram", by: ["country"], sum: "level" },
];

function randomPredicate(rng: Rng, records: bigint[][]): PassQuery["predicate"] {
  const clauses = (max: number) =>
    randomQuery(rng, schema, { maxClauses: max, maxSet: 3, records, kinds: ["count"] }).predicate;
  if (rng.next() < 0.4) {
    const first = clauses(2);
    return { anyOf: [first, clauses(Math.max(1, 3 - first.length))] };
  }
  return clauses(2);
}

/** A random predicate that fits the C clause slots (a two-sided between takes two, design.md 9.2). */
function fittingPredicate(rng: Rng, records: bigint[][]): PassQuery["predicate"] {
  for (;;) {
    const predicate = randomPredicate(rng, records);
    const query = { predicate, aggregate: { kind: "count" } };
    if (passClauseSlots(query, schema, queryShape) <= queryShape.clauses) return predicate;
  }
}

function randomPassQuery(rng: Rng, records: bigint[][], slot: number, forceHistogram: boolean): PassQuery {
  const predicate = fittingPredicate(rng, records);
  if (slot < shape.histogramSlots && (forceHistogram || rng.next() < 0.4)) {
    return { predicate, aggregate: structuredClone(rng.pick(HISTOGRAMS)) as PassQuery["aggregate"] };
  }
  const scalar = rng.pick([
    { kind: "count" },
    { kind: "sum", field: "edits" },
    { kind: "avg", field: "level" },
    { kind: "threshold", k: rng.int(0, records.length + 1) },
  ]) as PassQuery["aggregate"];
  return { predicate, aggregate: scalar };
}

function sortedRecords(rng: Rng, count: number): bigint[][] {
  return randomRecords(rng, schema, count).sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1));
}

interface Pass {
  committed: ChunkedCommitment;
  query: PassPublicElements;
  plan: PassChainPlan;
  statement: PassChainStatement;
}

function planPass(records: bigint[][], queries: PassQuery[], minGroupSize: number, seed = 1): Pass {
  const committed = commitChunks(poseidon, {
    layout: shape.chunk.layout,
    domains: shape.chunk.domains,
    keyField: shape.chunk.keyField,
    records,
    secret: new Uint8Array(32).fill(seed),
    datasetId: "pass",
    epoch: 1,
  });
  const query = encodePassPublic(queries, schema, queryShape);
  const nonce = 4242n + BigInt(seed);
  const plan = planPassChain(poseidon, shape, committed, { nonce, query, minGroupSize });
  const aggregates = loweredPassFromPublic(shape, query).map((lowered) => lowered.aggregate);
  const outputs = passOutputsOf(
    shape,
    aggregates,
    evaluatePass(queries, schema, records, minGroupSize),
    paddingResult(records.length, minGroupSize),
  );
  const statement: PassChainStatement = {
    root: committed.root,
    recordCount: committed.recordCount,
    chunkSize: S,
    chunkCount: committed.chunkCount,
    minGroupSize,
    nonce,
    query,
    outputs,
  };
  return { committed, query, plan, statement };
}

function publicOf(circuit: LoadedCircuit, w: readonly bigint[]): string[] {
  return w.slice(1, 1 + circuit.nPublic).map(String);
}

async function provenSignals(pass: Pass) {
  const chunks: string[][] = [];
  for (const chunk of pass.plan.chunks) {
    const w = await step.witness(chunk.input);
    expect(satisfies(step, w)).toBe(true);
    chunks.push(publicOf(step, w));
  }
  const w = await final.witness(pass.plan.final.input);
  expect(satisfies(final, w)).toBe(true);
  return { chunks, final: publicOf(final, w), finalWitness: w };
}

describe("pass reference semantics", () => {
  it("the lowered (circuit) evaluator equals the readable one on 300 random passes", () => {
    const rng = createRng(8080);
    for (let run = 0; run < 300; run++) {
      const records = sortedRecords(rng, rng.int(0, 60));
      const queries = [0, 1, 2]
        .slice(0, rng.int(1, 3))
        .map((slot) => randomPassQuery(rng, records, slot, slot === 0));
      const g = rng.pick([0, 0, 1, 2, 3, 5]);
      const aggregates = loweredPassFromPublic(shape, encodePassPublic(queries, schema, queryShape)).map(
        (q) => q.aggregate,
      );
      const readable = passOutputsOf(
        shape,
        aggregates,
        evaluatePass(queries, schema, records, g),
        paddingResult(records.length, g),
      );
      const lowered = evaluatePassLowered(queries, schema, queryShape, records, g);
      expect(lowered.map((slot) => slot.suppressed)).toEqual(readable.suppressed);
      expect(lowered.map((slot) => slot.answer)).toEqual(readable.answers);
      expect(lowered.map((slot) => slot.count)).toEqual(readable.counts);
      expect(lowered.slice(0, shape.histogramSlots).map((slot) => slot.cells)).toEqual(readable.cells);
    }
  });

  it("pass clause slots make one comparison: eq/neq as sets, empty ranges negated, between in two slots", () => {
    const width = queryShape.width;
    const max = maxValue(width);
    const level = (op: string, value: unknown) => ({ field: "level", op, value }) as Clause;
    const slotsOf = (predicate: Clause[]) =>
      passClauseSlots({ predicate, aggregate: { kind: "count" } }, schema, queryShape);
    expect(passClauses({ fieldIndex: 1, isSet: false, negate: true, values: [7n, 7n, 0n] }, width)).toEqual([
      { fieldIndex: 1, isSet: true, negate: true, values: [7n, 7n, 7n] },
    ]);
    expect(passClauses({ fieldIndex: 1, isSet: false, negate: false, values: [1n, 0n, 0n] }, width)).toEqual([
      { fieldIndex: 1, isSet: false, negate: true, values: [0n, max, 0n] },
    ]);
    expect(passClauses({ fieldIndex: 1, isSet: false, negate: false, values: [3n, 9n, 0n] }, width)).toEqual([
      { fieldIndex: 1, isSet: false, negate: false, values: [3n, max, 0n] },
      { fieldIndex: 1, isSet: false, negate: false, values: [0n, 9n, 0n] },
    ]);
    expect(slotsOf([level("between", [3, 9])])).toBe(2);
    expect(slotsOf([level("between", [0, 9]), level("neq", 4)])).toBe(2);
    expect(slotsOf([level("gte", 3), level("lt", 10)])).toBeLessThanOrEqual(2);
    const records = [0n, 1n, 2n, 3n, 9n, 10n, 100n, 255n].map((v, i) => [BigInt(i + 1), 0n, 0n, 1n, v]);
    const edges: Clause[][] = [
      [level("lt", 0)],
      [level("gte", 0)],
      [level("eq", 0)],
      [level("neq", 3)],
      [level("between", [1, 9])],
      [level("between", [3, 3])],
      [level("gt", 9)],
      [level("lte", 2)],
    ];
    for (const predicate of edges) {
      const queries: PassQuery[] = [{ predicate, aggregate: { kind: "count" } }];
      const readable = evaluatePass(queries, schema, records)[0];
      const circuit = evaluatePassLowered(queries, schema, queryShape, records, 0)[0];
      expect(circuit?.answer, JSON.stringify(predicate)).toBe(
        readable?.kind === "count" ? readable.value : undefined,
      );
    }
  });

  it("no hidden cell of a published table can be recovered, with or without knowing the table's total", () => {
    // Every table of G = 3 cells with total T <= 14, for g = 2..4: group the tables by what a bundle publishes
    // (visible cells, hidden flags, the table flag), optionally with T (public for an unconditional histogram
    // or from another query of the bundle); in each group every hidden cell must take at least two values.
    // T = 0 pins every cell by itself (no record matches), whatever is released, so it is left out when known.
    for (const g of [2, 3, 4]) {
      for (const totalKnown of [true, false]) {
        const groups = new Map<string, number[][]>();
        for (let a = 0; a <= 14; a++) {
          for (let b = 0; a + b <= 14; b++) {
            for (let c = 0; a + b + c <= 14; c++) {
              if (totalKnown && a + b + c === 0) continue;
              const counts = [a, b, c];
              const outcome = histogramOutcome(counts, counts.map(BigInt), g);
              const key = JSON.stringify([
                totalKnown ? a + b + c : "?",
                outcome.tableSuppressed,
                outcome.cells.map((cell) => (cell.hidden ? "h" : String(cell.value))),
              ]);
              groups.set(key, [...(groups.get(key) ?? []), counts]);
            }
          }
        }
        let hiddenGroups = 0;
        for (const [key, tables] of groups) {
          const hidden = (JSON.parse(key)[2] as string[]).flatMap((cell, i) => (cell === "h" ? [i] : []));
          for (const i of hidden) {
            const values = new Set(tables.map((table) => table[i]));
            expect(values.size, `g = ${g}, ${key}: cell ${i} is pinned`).toBeGreaterThan(1);
          }
          if (hidden.length > 0) hiddenGroups += 1;
        }
        expect(hiddenGroups).toBeGreaterThan(totalKnown ? 10 : 0);
      }
    }
  });

  it("the naive rule (hide only cells below g, release the total) would let a hidden cell be recovered", () => {
    // One small cell among large ones: the total minus the visible cells is the hidden cell.
    const counts = [9, 2, 7];
    const naiveHidden = counts.map((c) => c < 3);
    const recovered =
      counts.reduce((a, b) => a + b, 0) - counts.filter((_, i) => !naiveHidden[i]).reduce((a, b) => a + b, 0);
    expect(recovered).toBe(2);
    const outcome = histogramOutcome(counts, counts.map(BigInt), 3);
    expect(outcome.tableSuppressed).toBe(true);
    expect(outcome.cells.every((cell) => cell.hidden)).toBe(true);
  });
});

describe("PassStep and PassFinal witnesses", () => {
  it("random chains of Q = 3 queries (histograms of one and two fields, with and without suppression) equal the reference evaluator", async () => {
    const rng = createRng(1234);
    const cases: { g: number; histograms: PassQuery["aggregate"][] }[] = [
      { g: 0, histograms: [HISTOGRAMS[0], HISTOGRAMS[2]] as PassQuery["aggregate"][] },
      { g: 3, histograms: [HISTOGRAMS[2], HISTOGRAMS[0]] as PassQuery["aggregate"][] },
      { g: 2, histograms: [HISTOGRAMS[3], HISTOGRAMS[1]] as PassQuery["aggregate"][] },
      { g: 0, histograms: [HISTOGRAMS[4], HISTOGRAMS[3]] as PassQuery["aggregate"][] },
      { g: 4, histograms: [HISTOGRAMS[1], HISTOGRAMS[4]] as PassQuery["aggregate"][] },
      { g: 2, histograms: [] },
    ];
    for (const [run, { g, histograms }] of cases.entries()) {
      const records = sortedRecords(rng, rng.int(2 * S + 1, 3 * S + 3));
      const queries = [0, 1, 2].map((slot) => {
        const query = randomPassQuery(rng, records, slot, false);
        const histogram = histograms[slot];
        return histogram === undefined
          ? query
          : { predicate: query.predicate, aggregate: structuredClone(histogram) };
      });
      const pass = planPass(records, queries, g, run + 1);
      const signals = await provenSignals(pass);
      expect(checkPassChainSignals(pass.statement, signals.chunks, signals.final)).toEqual({ ok: true });
      expect(pass.plan.final.publicSignals).toEqual(signals.final);
    }
  }, 600_000);
});

describe("soundness", () => {
  let records: bigint[][];
  let pass: Pass;
  let finalWitness: bigint[];
  const G = shape.cells;
  const outputIndex = (name: string) => wire(final, name);

  beforeAll(async () => {
    const rng = createRng(99);
    records = sortedRecords(rng, 2 * S + 5);
    const queries: PassQuery[] = [
      { predicate: [], aggregate: { kind: "histogram", by: ["country", "bot"] } },
      { predicate: [], aggregate: { kind: "histogram", by: ["country"] } },
      { predicate: [{ field: "bot", op: "eq", value: true }], aggregate: { kind: "count" } },
    ];
    pass = planPass(records, queries, 3, 7);
    finalWitness = (await provenSignals(pass)).finalWitness;
  }, 600_000);

  function cellWire(h: number, g: number) {
    return outputIndex(`cells[${h}][${g}]`);
  }

  it("the honest witness hides some cells and shows others", () => {
    const cells = pass.plan.outputs.cells[0] as readonly bigint[];
    expect(cells.some((cell) => cell % 2n === 1n)).toBe(true);
    expect(cells.some((cell) => cell > 1n)).toBe(true);
  });

  it("a suppressed cell shown, or a large cell hidden, breaks a constraint", () => {
    const cells = pass.plan.outputs.cells[0] as readonly bigint[];
    const hiddenAt = cells.indexOf(1n);
    const shownAt = cells.findIndex((cell) => cell > 1n);
    const state = pass.plan.final.input.state as string[];
    const at = 2 + 2 * shape.queries;
    const trueCount = BigInt(state[at + hiddenAt] as string);
    expect(satisfies(final, edit(finalWitness, { [cellWire(0, hiddenAt)]: 2n * trueCount }))).toBe(false);
    expect(satisfies(final, edit(finalWitness, { [cellWire(0, shownAt)]: 1n }))).toBe(false);
  });

  it("a cell moved, merged or dropped in the opened state breaks the accumulator opening", async () => {
    const at = 2 + 2 * shape.queries;
    const state = (pass.plan.final.input.state as string[]).map(BigInt);
    const nonEmpty = state.slice(at, at + G).flatMap((count, g) => (count > 0n ? [g] : []));
    const [a, b] = nonEmpty as [number, number];
    const moved = [...state];
    moved[at + a] = (moved[at + a] as bigint) - 1n;
    moved[at + b] = (moved[at + b] as bigint) + 1n;
    const merged = [...state];
    merged[at + b] = (merged[at + a] as bigint) + (merged[at + b] as bigint);
    merged[at + a] = 0n;
    const dropped = [...state];
    dropped[at + a] = 0n;
    for (const forged of [moved, merged, dropped]) {
      const input = { ...pass.plan.final.input, state: forged.map(String) };
      expect(satisfies(final, await final.forgedWitness(input))).toBe(false);
    }
  });

  it("a record dropped from its cell, or counted in another one, breaks a step constraint", async () => {
    const w = await step.witness(pass.plan.chunks[0]?.input as Record<string, unknown>);
    let checked = 0;
    for (let i = 0; i < S && checked < 3; i++) {
      for (let g = 0; g < G; g++) {
        const leaf = w[wire(step, `countTree[${i}][0].leaves[${g}]`)] as bigint;
        if (leaf !== 1n) continue;
        expect(satisfies(step, edit(w, { [wire(step, `countTree[${i}][0].leaves[${g}]`)]: 0n }))).toBe(false);
        const other = (g + 1) % G;
        expect(satisfies(step, edit(w, { [wire(step, `countTree[${i}][0].leaves[${other}]`)]: 1n }))).toBe(
          false,
        );
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("one query's answer swapped with another's is rejected (by the circuit and the chain check)", () => {
    const a = outputIndex("cells[0][0]");
    const b = outputIndex("cells[1][0]");
    const swapped = edit(finalWitness, { [a]: finalWitness[b] as bigint, [b]: finalWitness[a] as bigint });
    if (finalWitness[a] !== finalWitness[b]) expect(satisfies(final, swapped)).toBe(false);
    const s0 = outputIndex("answers[2]");
    const s1 = outputIndex("answers[0]");
    expect(
      satisfies(
        final,
        edit(finalWitness, { [s0]: finalWitness[s1] as bigint, [s1]: finalWitness[s0] as bigint }),
      ),
    ).toBe(finalWitness[s0] === finalWitness[s1]);
    const outputs = pass.statement.outputs;
    const swappedStatement: PassChainStatement = {
      ...pass.statement,
      outputs: { ...outputs, cells: [outputs.cells[1] as bigint[], outputs.cells[0] as bigint[]] },
    };
    const chunks = pass.plan.chunks.map((chunk) => chunk.publicSignals);
    const check = checkPassChainSignals(swappedStatement, chunks, pass.plan.final.publicSignals);
    expect(check.ok).toBe(false);
    const queriesSwapped: PassChainStatement = {
      ...pass.statement,
      query: {
        aggregates: [
          pass.query.aggregates[1],
          pass.query.aggregates[0],
          pass.query.aggregates[2],
        ] as bigint[],
        clauses: pass.query.clauses,
      },
    };
    expect(checkPassChainSignals(queriesSwapped, chunks, pass.plan.final.publicSignals).ok).toBe(false);
  });

  it("a group-field selector out of range, or a cell index beyond G, is unprovable", async () => {
    const { width, clauses, fields } = chunkQueryShape(shape.chunk);
    const lowered = loweredPassFromPublic(shape, pass.query)[0]?.aggregate;
    if (lowered === undefined) throw new Error("no aggregate");
    const forge = async (aggregate: typeof lowered) => {
      const input = structuredClone(pass.plan.chunks[0]?.input) as Record<string, unknown>;
      (input.aggregates as string[])[0] = String(forgedElement(aggregate, width, clauses));
      return satisfies(step, await step.forgedWitness(input));
    };
    expect(await forge({ ...lowered, group1: fields })).toBe(false);
    expect(await forge({ ...lowered, group2: fields + 3 })).toBe(false);
    expect(await forge({ ...lowered, stride: G })).toBe(false);
    // the honest element itself is provable
    expect(await forge(lowered)).toBe(true);
  });

  it("a two-sided range clause, or a clause field selector out of range, is unprovable", async () => {
    const { width, setSize, fields } = chunkQueryShape(shape.chunk);
    const forge = async (clause: CircuitClause) => {
      const input = structuredClone(pass.plan.chunks[0]?.input) as Record<string, unknown>;
      ((input.clauses as string[][])[2] as string[])[0] = String(encodeClauseElement(clause, width, setSize));
      return satisfies(step, await step.forgedWitness(input));
    };
    const pad = new Array<bigint>(setSize - 2).fill(0n);
    const range = (lo: bigint, hi: bigint): CircuitClause => ({
      fieldIndex: 1,
      isSet: false,
      negate: false,
      values: [lo, hi, ...pad],
    });
    const set = (fieldIndex: number): CircuitClause => ({
      fieldIndex,
      isSet: true,
      negate: true,
      values: new Array<bigint>(setSize).fill(1n),
    });
    expect(await forge(range(5n, 10n))).toBe(false);
    expect(await forge(range(1n, 0n))).toBe(false);
    expect(await forge(set(fields))).toBe(false);
    expect(await forge(set(255))).toBe(false);
    // the one-sided ranges and an in-range set are provable
    expect(await forge(range(5n, maxValue(width)))).toBe(true);
    expect(await forge(range(0n, 10n))).toBe(true);
    expect(await forge(set(fields - 1))).toBe(true);
  });

  it("a histogram in a slot >= H is unprovable", async () => {
    const { width, clauses } = chunkQueryShape(shape.chunk);
    const lowered = loweredPassFromPublic(shape, pass.query)[0]?.aggregate;
    if (lowered === undefined) throw new Error("no aggregate");
    const input = structuredClone(pass.plan.chunks[0]?.input) as Record<string, unknown>;
    (input.aggregates as string[])[2] = String(encodePassAggregate(lowered, width, clauses));
    expect(satisfies(step, await step.forgedWitness(input))).toBe(false);
  });
});

/** The element packing without the canonical checks (the attacker's encoder). */
function forgedElement(
  aggregate: ReturnType<typeof loweredPassFromPublic>[number]["aggregate"],
  width: number,
  _clauses: number,
): bigint {
  let element =
    BigInt(aggregate.mode) |
    (BigInt(aggregate.sumField) << 8n) |
    (BigInt(aggregate.group1) << 16n) |
    (BigInt(aggregate.group2) << 24n) |
    (BigInt(aggregate.stride) << 32n) |
    (BigInt(aggregate.used) << 48n) |
    (aggregate.k << 64n);
  aggregate.starts.forEach((start, c) => {
    if (start) element |= 1n << BigInt(64 + width + c);
  });
  return element;
}
