/**
 * Witness-level tests of circuits/lib/pass-final-noisy.circom (PassFinalNoisy, noisy histogram cells) against
 * its TypeScript twin (src/circuits/pass-noise-witness.ts), on a small shape (Q = H = 1, G = 8, at most 8
 * coins per cell): each released cell is its count plus noise derived from the committed seed, the nonce, the
 * query and the cell index, with the cell's own params; cells beyond the table release 0. Edits of an honest
 * witness are rejected: noise not from the seed, another cell's noise, noise outside its support, a count
 * moved, another mode, and +1 on any wire.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { NoiseParams } from "../src/circuits/noise.ts";
import {
  type CellParams,
  type NoisyPassFinalPublicInputs,
  type NoisyPassShape,
  noisyPassFinalPublicSignalNames,
  noisyPassFinalPublicSignals,
} from "../src/circuits/pass-noise.ts";
import {
  cellNoiseDraw,
  noisyPassFinalInput,
  noisyPassReleased,
  slotNoiseDigest,
} from "../src/circuits/pass-noise-witness.ts";
import { passQueryShape, passShapeFor } from "../src/circuits/pass-shape.ts";
import { type PassState, passStateElements, wideCommitment } from "../src/circuits/pass-witness.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { deriveNoiseSecret, type NoiseSecret, noiseSeedCommitment } from "../src/dataset/noise-seed.ts";
import { encodePassPublic } from "../src/query/pass.ts";
import { CHUNK_TEST_SCHEMA, loadNoisyPassFinalShape } from "./helpers/circuits.ts";
import { edit, firstViolation, type LoadedCircuit, satisfies, wire } from "./helpers/r1cs.ts";

const pass = passShapeFor(
  CHUNK_TEST_SCHEMA,
  { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 },
  { clauses: 3, setSize: 3, queries: 1, histogramSlots: 1, cells: 8 },
);
const shape: NoisyPassShape = { pass, maxCoins: 8, maxScaleBits: 2 };
const secret: NoiseSecret = deriveNoiseSecret(new Uint8Array(32).fill(5), "editors", 1);
/** country has 6 values: cells 0..5 in the table, 6 and 7 beyond it. */
const COUNTS = [5n, 0n, 7n, 3n, 20n, 5n, 0n, 0n];
const state: PassState = {
  realSeen: 40n,
  keyFloor: 900n,
  slots: [{ count: 40n, sum: 0n, cellCount: COUNTS, cellSum: new Array<bigint>(8).fill(0n) }],
};
const TIER_A: NoiseParams = { coins: 8, scaleBits: 0 };
const TIER_B: NoiseParams = { coins: 4, scaleBits: 2 };
const PARAMS: CellParams = [[TIER_A, TIER_B, TIER_A, TIER_A, TIER_B, TIER_A, null, null]];
let poseidon: PoseidonEx;
let circuit: LoadedCircuit;

beforeAll(async () => {
  poseidon = await getPoseidon();
  circuit = await loadNoisyPassFinalShape(shape);
}, 600_000);

function statement(options: { nonce?: bigint; seed?: NoiseSecret; params?: CellParams } = {}) {
  const query = encodePassPublic(
    [{ predicate: [], aggregate: { kind: "histogram", by: ["country"] } }],
    CHUNK_TEST_SCHEMA,
    passQueryShape(pass),
  );
  const opening = { state, blind: 987654321n };
  const used = options.seed ?? secret;
  const inputs: NoisyPassFinalPublicInputs = {
    root: 4242n,
    recordCount: 40,
    nonce: options.nonce ?? 77n,
    query,
    accIn: wideCommitment(poseidon, passStateElements(pass, state), opening.blind),
    seedCommitment: noiseSeedCommitment(poseidon, used),
    params: options.params ?? PARAMS,
  };
  return { inputs, opening, input: noisyPassFinalInput(shape, inputs, opening, used) };
}

const publicOf = (w: readonly bigint[]) => w.slice(1, 1 + circuit.nPublic).map(String);

describe("noisy pass final: honest witnesses", () => {
  it("lays out public signals as documented", () => {
    const names = noisyPassFinalPublicSignalNames(shape);
    expect(circuit.nPublic).toBe(names.length);
    names.forEach((name, index) => {
      expect(wire(circuit, name), name).toBe(index + 1);
    });
  });

  it("releases count + per-cell noise exactly as the twin, 0 beyond the table", async () => {
    for (const nonce of [77n, 78n, 2n ** 200n + 3n]) {
      const s = statement({ nonce });
      const w = await circuit.witness(s.input);
      expect(satisfies(circuit, w)).toBe(true);
      const released = noisyPassReleased(poseidon, s.inputs, state, secret.seed);
      expect(publicOf(w)).toEqual(noisyPassFinalPublicSignals(s.inputs, released));
      const row = released[0] as bigint[];
      expect(row.slice(6)).toEqual([0n, 0n]);
      row.slice(0, 6).forEach((value, g) => {
        const params = PARAMS[0]?.[g] as NoiseParams;
        const shift = value - (COUNTS[g] as bigint);
        expect(shift >= 0n && shift < (1n << BigInt(params.scaleBits)) * BigInt(params.coins + 1)).toBe(true);
      });
    }
  });

  it("gives cells independent noise: another cell index, nonce or seed gives another digest", () => {
    const s = statement();
    const slot = slotNoiseDigest(poseidon, s.inputs, 0);
    const draws = Array.from({ length: 64 }, (_, g) =>
      cellNoiseDraw(poseidon, secret.seed, slot, g, { coins: 8, scaleBits: 2 }),
    );
    expect(new Set(draws.map((draw) => draw.shift)).size).toBeGreaterThan(10);
    expect(slotNoiseDigest(poseidon, statement({ nonce: 78n }).inputs, 0)).not.toBe(slot);
    const again = cellNoiseDraw(poseidon, secret.seed, slot, 3, TIER_A).shift;
    expect(cellNoiseDraw(poseidon, secret.seed, slot, 3, TIER_A).shift).toBe(again);
  });
});

describe("noisy pass final: edited witnesses violate constraints", () => {
  let honest: ReturnType<typeof statement>;
  let w: bigint[];
  beforeAll(async () => {
    honest = statement();
    w = await circuit.witness(honest.input);
    expect(satisfies(circuit, w)).toBe(true);
  });
  const forgeable = async (input: Record<string, unknown>) =>
    satisfies(circuit, await circuit.forgedWitness(input));

  it("rejects noise not from the committed seed (seed or blind edited, or another committed seed)", async () => {
    for (const name of ["seed", "seedBlind"]) {
      const edited = { ...honest.input, [name]: String(BigInt(honest.input[name] as string) + 1n) };
      expect(await forgeable(edited), name).toBe(false);
    }
    const other = statement({ seed: deriveNoiseSecret(new Uint8Array(32).fill(6), "editors", 1) });
    expect(satisfies(circuit, await circuit.witness(other.input))).toBe(true);
    expect(await forgeable({ ...other.input, seedCommitment: honest.input.seedCommitment })).toBe(false);
  });

  it("rejects another cell's noise: released values swapped between cells, or a coin flipped", () => {
    const a = wire(circuit, "released[0][0]");
    const b = wire(circuit, "released[0][2]");
    expect(w[a]).not.toBe(w[b]);
    expect(satisfies(circuit, edit(w, { [a]: w[b] as bigint, [b]: w[a] as bigint }))).toBe(false);
    const coin = wire(circuit, "noise[0][1].noise.bits[0].out[0]");
    expect(satisfies(circuit, edit(w, { [coin]: 1n - (w[coin] as bigint) }))).toBe(false);
    for (const delta of [1n, -1n]) {
      expect(satisfies(circuit, edit(w, { [a]: (w[a] as bigint) + delta }))).toBe(false);
    }
  });

  it("rejects noise outside its support: masks past n or j, noise beyond the table", async () => {
    const active = structuredClone(honest.input.active) as string[][][];
    (active[0]?.[1] as string[])[4] = "1"; // cell 1 has n = 4
    expect(await forgeable({ ...honest.input, active })).toBe(false);
    const scale = structuredClone(honest.input.scale) as string[][][];
    (scale[0]?.[0] as string[])[0] = "1"; // cell 0 has j = 0
    expect(await forgeable({ ...honest.input, scale })).toBe(false);
    const beyond = wire(circuit, "released[0][6]");
    expect(satisfies(circuit, edit(w, { [beyond]: 1n }))).toBe(false);
  });

  it("rejects a count moved into a cell beyond the table, and histograms of sums or other modes", async () => {
    const moved: PassState = {
      ...state,
      slots: [{ ...(state.slots[0] as PassState["slots"][0]), cellCount: [...COUNTS.slice(0, 7), 5n] }],
    };
    const accIn = wideCommitment(poseidon, passStateElements(pass, moved), 1n);
    const forged = noisyPassFinalInput(
      shape,
      { ...honest.inputs, accIn },
      { state: moved, blind: 1n },
      secret,
    );
    expect(await forgeable(forged)).toBe(false);
    const aggregate = BigInt((honest.input.aggregates as string[])[0] as string);
    for (const mode of [0n, 1n, 5n]) {
      const element = String((aggregate & ~0xffn) | mode);
      expect(await forgeable({ ...honest.input, aggregates: [element] }), `mode ${mode}`).toBe(false);
    }
  });

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
});
