/**
 * Witness-level tests of circuits/lib/noise.circom and circuits/lib/chunk-final-noisy.circom (ChunkFinalNoisy)
 * against their TypeScript twin (src/circuits/noise-witness.ts): the released value is the true answer plus
 * the noise derived from the committed seed, the nonce and the query, for random seeds, nonces and params;
 * and every edit of an honest witness that would change the noise (another seed, fresh noise for the same
 * nonce, noise outside its support, a mask past n) breaks a constraint. Also the accounting of
 * src/circuits/noise.ts against a direct evaluation of the definition.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type AccumulatorOpening, accumulatorCommitment } from "../src/circuits/chunk-witness.ts";
import {
  formatDelta,
  type NoiseParams,
  type NoisyFinalPublicInputs,
  type NoisyFinalShape,
  noiseCentre,
  noiseDelta,
  noisyFinalPublicSignalNames,
  noisyFinalPublicSignals,
  parsePrivacyNumber,
  planNoise,
} from "../src/circuits/noise.ts";
import { noiseDigest, noiseDraw, noisyFinalInput, noisyReleased } from "../src/circuits/noise-witness.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { deriveNoiseSecret, type NoiseSecret, noiseSeedCommitment } from "../src/dataset/noise-seed.ts";
import { AGGREGATE_MODE, encodeAggregateElement, type QueryPublicElements } from "../src/query/lower.ts";
import { loadNoisyFinalShape } from "./helpers/circuits.ts";
import { edit, firstViolation, type LoadedCircuit, satisfies, wire } from "./helpers/r1cs.ts";

/** 130 coins: two coin blocks (the second partly used), 4 scale bits. */
const shape: NoisyFinalShape = { clauses: 3, width: 16, maxCoins: 130, maxScaleBits: 4 };
let poseidon: PoseidonEx;
let circuit: LoadedCircuit;
const secret: NoiseSecret = deriveNoiseSecret(new Uint8Array(32).fill(7), "editors", 3);

beforeAll(async () => {
  poseidon = await getPoseidon();
  circuit = await loadNoisyFinalShape(shape);
}, 600_000);

function query(mode: 0 | 1, clamp?: readonly [bigint, bigint]): QueryPublicElements {
  const aggregate = encodeAggregateElement(
    { mode, sumField: mode === 1 ? 2 : 0, k: 0n, ...(clamp === undefined ? {} : { clamp }) },
    shape.width,
  );
  return { aggregate, clauses: [11n, 22n, 33n] };
}

const state = { realSeen: 40n, keyFloor: 1000n, count: 12n, sum: 3456n, max: 400n };

function statement(options: { nonce?: bigint; params?: NoiseParams; mode?: 0 | 1; seed?: NoiseSecret } = {}) {
  const opening: AccumulatorOpening = { state, blind: 123456789n };
  const used = options.seed ?? secret;
  const inputs: NoisyFinalPublicInputs = {
    root: 42n,
    recordCount: 40,
    nonce: options.nonce ?? 7n,
    query: query(options.mode ?? AGGREGATE_MODE.sum, options.mode === 0 ? undefined : [0n, 500n]),
    accIn: accumulatorCommitment(poseidon, opening),
    seedCommitment: noiseSeedCommitment(poseidon, used),
    params: options.params ?? { coins: 130, scaleBits: 3 },
  };
  return { inputs, opening, input: noisyFinalInput(shape, inputs, opening, used) };
}

const publicOf = (w: readonly bigint[]) => w.slice(1, 1 + circuit.nPublic).map(String);

describe("noisy final step: honest witnesses", () => {
  it("lays out public signals as documented", () => {
    const names = noisyFinalPublicSignalNames(shape);
    expect(circuit.nPublic).toBe(names.length);
    names.forEach((name, index) => {
      expect(wire(circuit, name), name).toBe(index + 1);
    });
  });

  it("releases answer + noise exactly as the TypeScript twin, for random seeds, nonces and params", async () => {
    const cases: { nonce: bigint; params: NoiseParams; mode: 0 | 1; seed: NoiseSecret }[] = [];
    for (let i = 0; i < 6; i++) {
      const seed = deriveNoiseSecret(crypto.getRandomValues(new Uint8Array(32)), "editors", i);
      const nonce = BigInt(`0x${Buffer.from(crypto.getRandomValues(new Uint8Array(31))).toString("hex")}`);
      const params = {
        coins: [2, 64, 128, 130, 100, 130][i] as number,
        scaleBits: [0, 1, 4, 0, 2, 3][i] as number,
      };
      cases.push({ nonce, params, mode: i % 2 === 0 ? 0 : 1, seed });
    }
    for (const options of cases) {
      const s = statement(options);
      const w = await circuit.witness(s.input);
      expect(satisfies(circuit, w)).toBe(true);
      const twin = noisyReleased(poseidon, s.inputs, state, options.seed.seed);
      expect(twin.answer).toBe(options.mode === 0 ? 12n : 3456n);
      const s2 = 1n << BigInt(options.params.scaleBits);
      expect(twin.draw.shift >= 0n && twin.draw.shift < s2 * BigInt(options.params.coins + 1)).toBe(true);
      expect(publicOf(w)).toEqual(noisyFinalPublicSignals(s.inputs, twin.released));
    }
  });

  it("gives the same noise for the same nonce and query, other noise for another nonce or query", () => {
    const a = statement();
    const again = statement();
    const otherNonce = statement({ nonce: 8n });
    const otherQuery = statement({ mode: 0 });
    const draw = (s: ReturnType<typeof statement>) =>
      noiseDraw(poseidon, secret.seed, noiseDigest(poseidon, s.inputs), s.inputs.params).shift;
    expect(draw(again)).toBe(draw(a));
    const digests = new Set([a, otherNonce, otherQuery].map((s) => noiseDigest(poseidon, s.inputs)));
    expect(digests.size).toBe(3);
  });

  it("draws coins with mean n/2 and dither uniform below s over many nonces (twin only)", () => {
    const params = { coins: 128, scaleBits: 2 };
    let heads = 0n;
    const dither = [0, 0, 0, 0];
    const trials = 400;
    for (let i = 0; i < trials; i++) {
      const draw = noiseDraw(poseidon, secret.seed, BigInt(i + 1), params);
      heads += draw.heads;
      dither[Number(draw.dither)] = (dither[Number(draw.dither)] as number) + 1;
    }
    const mean = Number(heads) / trials;
    expect(Math.abs(mean - 64)).toBeLessThan(1.5); // sd of the mean: sqrt(32 / 400) = 0.28
    for (const seen of dither) expect(Math.abs(seen - trials / 4)).toBeLessThan(45);
  });
});

describe("noisy final step: edited witnesses violate constraints", () => {
  let honest: ReturnType<typeof statement>;
  let w: bigint[];
  beforeAll(async () => {
    honest = statement();
    w = await circuit.witness(honest.input);
    expect(satisfies(circuit, w)).toBe(true);
  });
  const forgeable = async (input: Record<string, unknown>) =>
    satisfies(circuit, await circuit.forgedWitness(input));

  it("rejects noise not from the committed seed (the seed or blind edited)", async () => {
    for (const name of ["seed", "seedBlind"]) {
      const edited = { ...honest.input, [name]: String(BigInt(honest.input[name] as string) + 1n) };
      expect(await forgeable(edited), name).toBe(false);
    }
  });

  it("rejects noise from a different seed, even one the prover knows and commits to itself", async () => {
    const other = deriveNoiseSecret(new Uint8Array(32).fill(9), "editors", 3);
    const forged = statement({ seed: other });
    expect(satisfies(circuit, await circuit.witness(forged.input))).toBe(true); // honest for its own commitment
    const against = { ...forged.input, seedCommitment: honest.input.seedCommitment };
    expect(await forgeable(against)).toBe(false);
  });

  it("rejects fresh noise for a reused nonce: the released value and the coins are fixed", () => {
    const released = wire(circuit, "released");
    for (const delta of [1n, -1n, 8n]) {
      expect(satisfies(circuit, edit(w, { [released]: (w[released] as bigint) + delta }))).toBe(false);
    }
    const coin = wire(circuit, "noise.bits[0].out[5]");
    expect(satisfies(circuit, edit(w, { [coin]: 1n - (w[coin] as bigint) }))).toBe(false);
    const laterCoin = wire(circuit, "noise.bits[1].out[1]");
    expect(satisfies(circuit, edit(w, { [laterCoin]: 1n - (w[laterCoin] as bigint) }))).toBe(false);
  });

  it("rejects noise outside its support: masks past n or j, a released value past s (n + 1)", async () => {
    const active = [...honest.input.active];
    active[129] = "1"; // n = 130 already uses all; set a smaller n and extend its mask
    const small = statement({ params: { coins: 64, scaleBits: 3 } });
    const longer = [...small.input.active];
    longer[64] = "1";
    expect(await forgeable({ ...small.input, active: longer })).toBe(false);
    const scale = [...small.input.scale];
    scale[3] = "1";
    expect(await forgeable({ ...small.input, scale })).toBe(false);
    const gap = [...small.input.active];
    gap[10] = "0"; // not a thermometer code
    gap[64] = "1";
    expect(await forgeable({ ...small.input, active: gap })).toBe(false);
    expect(await forgeable({ ...small.input, params: String(200n) })).toBe(false); // n > NMAX
    expect(await forgeable({ ...small.input, params: String(64n | (5n << 16n)) })).toBe(false); // j > JMAX
    const released = wire(circuit, "released");
    const beyond = (w[released] as bigint) + 8n * 131n;
    expect(satisfies(circuit, edit(w, { [released]: beyond }))).toBe(false);
    expect(active.length).toBe(130);
  });

  it("rejects threshold and other modes", async () => {
    expect(await forgeable({ ...honest.input, aggregate: "2" })).toBe(false);
    expect(await forgeable({ ...honest.input, aggregate: "3" })).toBe(false);
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

describe("accounting of binomial-dither/v1", () => {
  /** The definition: max over 0 < d <= sensitivity of sum_z max(0, P(z) - e^eps P(z - d)), P the shift's pmf. */
  function bruteDelta(params: NoiseParams, sensitivity: number, epsilon: number): number {
    const s = 2 ** params.scaleBits;
    const n = params.coins;
    const choose: number[] = [1];
    for (let x = 1; x <= n; x++) choose.push(((choose[x - 1] as number) * (n - x + 1)) / x);
    const pmf = (z: number) =>
      z < 0 || z >= s * (n + 1) ? 0 : (choose[Math.floor(z / s)] as number) / 2 ** n / s;
    let worst = 0;
    for (let d = 1; d <= sensitivity; d++) {
      let total = 0;
      for (let z = 0; z < s * (n + 1) + d; z++) total += Math.max(0, pmf(z) - Math.exp(epsilon) * pmf(z - d));
      worst = Math.max(worst, total);
    }
    return worst;
  }

  it("equals the definition evaluated directly", () => {
    for (const [params, sensitivity, epsilon] of [
      [{ coins: 40, scaleBits: 0 }, 1, 1],
      [{ coins: 60, scaleBits: 2 }, 5, 0.8],
      [{ coins: 30, scaleBits: 3 }, 3, 0.5],
      [{ coins: 50, scaleBits: 1 }, 7, 2],
    ] as const) {
      const direct = bruteDelta(params, sensitivity, epsilon);
      const computed = noiseDelta(params, BigInt(sensitivity), epsilon);
      expect(Math.abs(computed - direct)).toBeLessThan(1e-12 + direct * 1e-9);
    }
  });

  it("plans the fewest coins for a target, and states delta rounded up", () => {
    const plan = planNoise(
      { epsilon: 1, delta: 1e-9, sensitivity: 1n },
      { maxCoins: 4096, maxScaleBits: 16 },
    );
    expect(plan.params).toEqual({ coins: 136, scaleBits: 0 });
    expect(plan.delta).toBeLessThanOrEqual(1e-9);
    expect(noiseDelta({ coins: 134, scaleBits: 0 }, 1n, 1)).toBeGreaterThan(1e-9);
    expect(parsePrivacyNumber(formatDelta(plan.delta), "delta")).toBeGreaterThanOrEqual(plan.delta);
    expect(formatDelta(9.271e-10)).toBe("9.28e-10");
    expect(noiseCentre({ coins: 136, scaleBits: 0 })).toBe(68n);
    expect(noiseCentre({ coins: 4, scaleBits: 2 })).toBe(9n); // shift in [0, 20), mean 9.5
    expect(() =>
      planNoise({ epsilon: 0.01, delta: 1e-12, sensitivity: 1n }, { maxCoins: 256, maxScaleBits: 4 }),
    ).toThrow(RangeError);
  });
});
