/**
 * @module circuits/noise-witness
 *
 * TypeScript twin of `circuits/lib/noise.circom` and `circuits/lib/chunk-final-noisy.circom`: the noise of a
 * query derived from the secret seed exactly as the circuit derives it (digest, coin hashes, coins, dither),
 * the noisy final step's input with identical signal names, and its released value. This is the reference
 * evaluator of the noise: the prover refuses a proof whose released value differs from it.
 *
 * Security caveats: the seed, its blind and the opened accumulator are secrets of the operator side; the
 * inputs built here go only to the prover, never into bundles or logs.
 */
import { FIELD_ORDER } from "../core/field.ts";
import type { PoseidonEx } from "../dataset/commitment.ts";
import type { NoiseSecret } from "../dataset/noise-seed.ts";
import type { AccumulatorOpening } from "./chunk-witness.ts";
import {
  checkNoiseParams,
  encodeNoiseParams,
  NOISE_COIN_BITS,
  type NoiseParams,
  type NoisyFinalPublicInputs,
  type NoisyFinalShape,
  noiseHashCount,
} from "./noise.ts";

/** int(utf8("zktally/noise-query/v1")) and int(utf8("zktally/noise-coin/v1")) (design.md 8.2). */
export const TAG_NOISE_QUERY = 45802664227859904835563437081868100949922441715480113n;
export const TAG_NOISE_COIN = 178916657140077753263919676101047265388404902164017n;
/** Hash index of the dither, above every coin block (n < 2^16). */
export const NOISE_DITHER_INDEX = 65536n;

/** digest = PoseidonEx([root, nonce, aggregate, clauses..., params], TAG_NOISE_QUERY). */
export function noiseDigest(
  poseidon: PoseidonEx,
  inputs: Pick<NoisyFinalPublicInputs, "root" | "nonce" | "query" | "params">,
): bigint {
  const { root, nonce, query, params } = inputs;
  return poseidon(
    [root, nonce, query.aggregate, ...query.clauses, encodeNoiseParams(params)],
    TAG_NOISE_QUERY,
  );
}

/** The noise draw: heads of the n coins, the dither U < s and shift = s * heads + U. */
export interface NoiseDraw {
  readonly heads: bigint;
  readonly dither: bigint;
  readonly shift: bigint;
}

/**
 * The draw of the circuit: h_t = PoseidonEx([seed, digest, t], TAG_NOISE_COIN); coin i = bit i mod 128 of
 * h_{i div 128} for i < n, dither = the low j bits of h_{2^16}.
 */
export function noiseDraw(
  poseidon: PoseidonEx,
  seed: bigint,
  digest: bigint,
  params: NoiseParams,
): NoiseDraw {
  const blocks = noiseHashCount(params.coins) - 1;
  const blockMask = (1n << BigInt(NOISE_COIN_BITS)) - 1n;
  let heads = 0n;
  for (let t = 0; t < blocks; t++) {
    const block = poseidon([seed, digest, BigInt(t)], TAG_NOISE_COIN) & blockMask;
    const used = Math.min(NOISE_COIN_BITS, params.coins - t * NOISE_COIN_BITS);
    heads += popcount(block & ((1n << BigInt(used)) - 1n));
  }
  const last = poseidon([seed, digest, NOISE_DITHER_INDEX], TAG_NOISE_COIN);
  const dither = last & ((1n << BigInt(params.scaleBits)) - 1n);
  return { heads, dither, shift: (heads << BigInt(params.scaleBits)) + dither };
}

function popcount(value: bigint): bigint {
  let count = 0n;
  for (let v = value; v > 0n; v >>= 1n) count += v & 1n;
  return count;
}

/** ChunkFinalNoisy's input, names exactly as the circuit declares them. */
export interface NoisyFinalCircuitInput {
  root: string;
  recordCount: string;
  nonce: string;
  aggregate: string;
  clauses: string[];
  accIn: string;
  seedCommitment: string;
  params: string;
  realSeen: string;
  keyFloor: string;
  count: string;
  sum: string;
  max: string;
  blind: string;
  seed: string;
  seedBlind: string;
  active: string[];
  scale: string[];
  [signal: string]: unknown;
}

/** The thermometer code of `count` over `length` positions. */
function thermometer(count: number, length: number): string[] {
  return Array.from({ length }, (_, i) => (i < count ? "1" : "0"));
}

/** The noisy final step's input for the last accumulator and the secret seed. */
export function noisyFinalInput(
  shape: NoisyFinalShape,
  inputs: NoisyFinalPublicInputs,
  opening: AccumulatorOpening,
  secret: NoiseSecret,
): NoisyFinalCircuitInput {
  checkNoiseParams(inputs.params, shape);
  if (inputs.query.clauses.length !== shape.clauses)
    throw new RangeError(`expected ${shape.clauses} clauses`);
  for (const [name, value] of [
    ["seed", secret.seed],
    ["seedBlind", secret.blind],
    ["nonce", inputs.nonce],
  ] as const) {
    if (value < 0n || value >= FIELD_ORDER) throw new RangeError(`${name} must be in [0, r)`);
  }
  const { state } = opening;
  return {
    root: inputs.root.toString(),
    recordCount: String(inputs.recordCount),
    nonce: inputs.nonce.toString(),
    aggregate: inputs.query.aggregate.toString(),
    clauses: inputs.query.clauses.map(String),
    accIn: inputs.accIn.toString(),
    seedCommitment: inputs.seedCommitment.toString(),
    params: encodeNoiseParams(inputs.params).toString(),
    realSeen: state.realSeen.toString(),
    keyFloor: state.keyFloor.toString(),
    count: state.count.toString(),
    sum: state.sum.toString(),
    max: state.max.toString(),
    blind: opening.blind.toString(),
    seed: secret.seed.toString(),
    seedBlind: secret.blind.toString(),
    active: thermometer(inputs.params.coins, shape.maxCoins),
    scale: thermometer(inputs.params.scaleBits, shape.maxScaleBits),
  };
}

/** released = answer + shift, the answer being the count (mode 0) or the (clamped) sum (mode 1). */
export function noisyReleased(
  poseidon: PoseidonEx,
  inputs: NoisyFinalPublicInputs,
  state: AccumulatorOpening["state"],
  seed: bigint,
): { released: bigint; answer: bigint; draw: NoiseDraw } {
  const mode = inputs.query.aggregate & 0xffn;
  if (mode !== 0n && mode !== 1n) throw new RangeError("only count and sum have a noisy answer");
  const answer = mode === 0n ? state.count : state.sum;
  const draw = noiseDraw(poseidon, seed, noiseDigest(poseidon, inputs), inputs.params);
  return { released: answer + draw.shift, answer, draw };
}
