/**
 * Witness-level tests of circuits/lib/chunk-final.circom (ChunkFinal) against its TypeScript twin
 * (src/circuits/chunk-witness.ts finalStepInput / finalOutputs): the answer and the suppression decision come
 * from the opened last accumulator and the manifest's recordCount, and every edit of an honest witness (or a
 * forged one, the generator's asserts ignored) breaks a constraint. Chains ending in this step are tested in
 * test/circuit-chunk.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type FinalShape, finalPublicSignalNames } from "../src/circuits/chunk-shape.ts";
import { type FinalPublicInputs, finalPublicSignals } from "../src/circuits/chunk-statement.ts";
import {
  type AccumulatorOpening,
  accumulatorCommitment,
  finalOutputs,
  finalStepInput,
} from "../src/circuits/chunk-witness.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { AGGREGATE_MODE, encodeAggregateElement, type QueryPublicElements } from "../src/query/lower.ts";
import { loadFinalShape } from "./helpers/circuits.ts";
import { edit, firstViolation, type LoadedCircuit, satisfies, wire } from "./helpers/r1cs.ts";

const shape: FinalShape = { clauses: 3, width: 16 };
let poseidon: PoseidonEx;
let circuit: LoadedCircuit;

beforeAll(async () => {
  poseidon = await getPoseidon();
  circuit = await loadFinalShape(shape);
}, 600_000);

function query(mode: 0 | 1 | 2, k = 0n): QueryPublicElements {
  const aggregate = encodeAggregateElement({ mode, sumField: mode === 1 ? 2 : 0, k }, shape.width);
  return { aggregate, clauses: [11n, 22n, 33n] };
}

function statement(
  state: AccumulatorOpening["state"],
  options: { recordCount?: number; minGroupSize?: number; mode?: 0 | 1 | 2; k?: bigint } = {},
) {
  const opening: AccumulatorOpening = { state, blind: 123456789n };
  const inputs: FinalPublicInputs = {
    root: 42n,
    recordCount: options.recordCount ?? Number(state.realSeen),
    minGroupSize: options.minGroupSize ?? 0,
    nonce: 7n,
    query: query(options.mode ?? AGGREGATE_MODE.count, options.k),
    accIn: accumulatorCommitment(poseidon, opening),
  };
  return { inputs, opening, input: finalStepInput(inputs, opening) };
}

const publicOf = (w: readonly bigint[]) => w.slice(1, 1 + circuit.nPublic).map(String);
const state = { realSeen: 40n, keyFloor: 1000n, count: 12n, sum: 3456n, max: 400n };

describe("final step: honest witnesses", () => {
  it("lays out public signals as documented", () => {
    const names = finalPublicSignalNames(shape);
    expect(circuit.nPublic).toBe(names.length);
    names.forEach((name, index) => {
      expect(wire(circuit, name), name).toBe(index + 1);
    });
  });

  it("answers count, sum and threshold from the accumulator, with suppression and its complement", async () => {
    const cases: [NonNullable<Parameters<typeof statement>[1]> & { count?: bigint }, [string, string]][] = [
      [{ mode: 0 }, ["0", "12"]],
      [{ mode: 1 }, ["0", "3456"]],
      [{ mode: 2, k: 12n }, ["0", "1"]],
      [{ mode: 2, k: 13n }, ["0", "0"]],
      [{ mode: 0, minGroupSize: 12 }, ["0", "12"]],
      [{ mode: 0, minGroupSize: 13 }, ["1", "0"]], // count 12 < 13
      [{ mode: 1, minGroupSize: 12 }, ["0", "3456"]],
      [{ mode: 1, minGroupSize: 28, count: 35n }, ["1", "0"]], // complement 40 - 35 = 5 < 28
      [{ mode: 1, minGroupSize: 5, count: 35n }, ["0", "3456"]],
      [{ mode: 0, minGroupSize: 6, count: 35n }, ["1", "0"]],
    ];
    for (const [{ count, ...options }, expected] of cases) {
      const s = statement({ ...state, count: count ?? state.count }, options);
      const w = await circuit.witness(s.input);
      expect(satisfies(circuit, w)).toBe(true);
      expect(
        publicOf(w).slice(0, 2),
        JSON.stringify(options, (_, v) => (typeof v === "bigint" ? String(v) : v)),
      ).toEqual(expected);
      const outputs = finalOutputs(shape, s.inputs, s.opening.state);
      expect(publicOf(w)).toEqual(finalPublicSignals(s.inputs, outputs));
    }
  });
});

describe("final step: edited witnesses violate constraints", () => {
  let honest: ReturnType<typeof statement>;
  let w: bigint[];
  beforeAll(async () => {
    honest = statement(state, { mode: AGGREGATE_MODE.sum, minGroupSize: 5 });
    w = await circuit.witness(honest.input);
    expect(satisfies(circuit, w)).toBe(true);
  });
  const violates = (changes: Record<number, bigint>) =>
    expect(satisfies(circuit, edit(w, changes))).toBe(false);
  const forgeable = async (input: Record<string, unknown>) =>
    satisfies(circuit, await circuit.forgedWitness(input));

  it("+1 on any single wire breaks a constraint", () => {
    let checked = 0;
    for (let index = 1; index < circuit.nWires; index++) {
      const touched = circuit.byWire.get(index);
      if (!touched) continue;
      const edited = edit(w, { [index]: (w[index] as bigint) + 1n });
      expect(firstViolation(circuit.constraints, edited, touched), `wire ${index}`).not.toBe(-1);
      checked++;
    }
    expect(checked).toBe(circuit.nWires - 1);
  });

  it("rejects an accumulator opened to another value", async () => {
    for (const name of ["count", "sum", "max", "realSeen", "keyFloor", "blind"]) {
      expect(
        await forgeable({ ...honest.input, [name]: String(BigInt(honest.input[name] as string) + 1n) }),
        name,
      ).toBe(false);
    }
  });

  it("rejects a total of real records other than the manifest's", async () => {
    expect(await forgeable({ ...honest.input, recordCount: "41" })).toBe(false);
    expect(await forgeable({ ...honest.input, recordCount: "39" })).toBe(false);
    const wrapped = statement({ ...state, realSeen: 1n << 32n });
    expect(await forgeable(wrapped.input)).toBe(false); // recordCount must fit 32 bits
  });

  it("rejects a claimed answer or suppression other than the true one", () => {
    violates({ [wire(circuit, "answer")]: 3457n });
    violates({ [wire(circuit, "answer")]: 0n });
    violates({ [wire(circuit, "suppressed")]: 1n });
  });

  it("rejects modes other than count, sum and threshold, and policy elements past g | share <= 100", async () => {
    expect(await forgeable({ ...honest.input, aggregate: "3" })).toBe(false);
    // The element packs g (32 bits) | dominanceShare << 32 (7 bits, at most 100): past that it fails.
    expect(await forgeable({ ...honest.input, minGroupSize: String(2n ** 39n) })).toBe(false);
    expect(await forgeable({ ...honest.input, minGroupSize: String(101n << 32n) })).toBe(false);
  });

  it("binds every public input (each one edited alone fails)", () => {
    for (const name of [
      "root",
      "recordCount",
      "minGroupSize",
      "nonce",
      "aggregate",
      "clauses[0]",
      "clauses[2]",
      "accIn",
    ]) {
      const index = wire(circuit, name);
      violates({ [index]: (w[index] as bigint) + 1n });
    }
  });
});
