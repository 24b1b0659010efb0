/**
 * @module test/helpers/dp-noise
 *
 * The noise of a dp answer for the attack tests: the mechanism of docs/privacy.md (binomial-dither/v1,
 * src/circuits/noise.ts), planned for the policy's (epsilon, delta) and a query's sensitivity with
 * `planNoise`, so the attacker faces exactly the distribution the circuit proves: noisy = answer + shift -
 * centre with shift = s * Bin(n, 1/2) + Uniform{0 .. s-1}.
 *
 * Two samplers of that distribution: `derivedShift` is the circuit's own derivation (`noiseDraw`, Poseidon
 * coins from a seed and a query digest), and `sampledShift` draws the same coins from a seeded PRNG, which is
 * ~1000x cheaper; the repeated-trial figures use it (and a test checks the two agree in mean and variance).
 * `twinNoisy` is the noisy answer a service's dp bundle must carry (reference evaluator plus the twin's noise).
 */

import { type NoiseParams, noiseCentre, planNoise } from "../../src/circuits/noise.ts";
import { noiseDigest, noiseDraw } from "../../src/circuits/noise-witness.ts";
import { getPoseidon } from "../../src/dataset/commitment.ts";
import type { Schema } from "../../src/dataset/schema.ts";
import { canonicalQuery } from "../../src/query/canonical.ts";
import { evaluateQuery } from "../../src/query/evaluate.ts";
import type { ServiceContext } from "../../src/service/context.ts";
import type { DpChainBundle } from "../../src/verifier/index.ts";
import type { Rng } from "./random.ts";

/** Generous limits for planning (the circuit's own shape bounds what a service can prove). */
export const PLANNING_SHAPE = { maxCoins: 65_534, maxScaleBits: 16 } as const;

export interface DpNoise {
  readonly params: NoiseParams;
  readonly centre: bigint;
  /** The delta the params achieve (<= the requested one). */
  readonly delta: number;
}

export function planDpNoise(epsilon: number, delta: number, sensitivity: bigint): DpNoise {
  const plan = planNoise({ epsilon, delta, sensitivity }, PLANNING_SHAPE);
  return { params: plan.params, centre: noiseCentre(plan.params), delta: plan.delta };
}

/** shift by the PRNG: s * (heads of n fair coins) + U{0 .. s-1}. */
export function sampledShift(noise: DpNoise, rng: Rng): bigint {
  const { coins, scaleBits } = noise.params;
  let heads = 0;
  for (let left = coins; left > 0; left -= 32) {
    let word = Math.floor(rng.next() * 2 ** 32);
    if (left < 32) word &= 2 ** left - 1;
    while (word !== 0) {
      heads += word & 1;
      word >>>= 1;
    }
  }
  const dither = scaleBits === 0 ? 0 : rng.int(0, 2 ** scaleBits - 1);
  return (BigInt(heads) << BigInt(scaleBits)) + BigInt(dither);
}

/** shift as the circuit derives it, from a random seed and query digest. */
export async function derivedShifter(noise: DpNoise, rng: Rng): Promise<() => bigint> {
  const poseidon = await getPoseidon();
  const field = () => rng.bigint(0n, (1n << 250n) - 1n);
  return () => noiseDraw(poseidon, field(), field(), noise.params).shift;
}

/** The noisy answer the partner sees. */
export function noisy(noise: DpNoise, exact: bigint, shift: bigint): bigint {
  return exact + shift - noise.centre;
}

/** The best success probability of any test between two neighbouring worlds, from an even prior. */
export function dpSuccessBound(epsilon: number, delta: number): number {
  return (Math.exp(epsilon) + delta) / (1 + Math.exp(epsilon));
}

/** The twin's answer: the reference evaluator's plus the noise drawn from the sealed seed (design.md 8.2). */
export async function twinNoisy(
  ctx: ServiceContext,
  datasetId: string,
  bundle: DpChainBundle,
  query: unknown,
  schema: Schema,
  records: readonly (readonly bigint[])[],
): Promise<string> {
  const poseidon = await getPoseidon();
  const secret = await ctx.datasets.noiseSecret(datasetId, bundle.manifest.epoch);
  const signals = bundle.final.publicSignals.map(BigInt);
  const clauses = signals.slice(5, signals.length - 3);
  const params = { coins: bundle.privacy.coins, scaleBits: bundle.privacy.scaleBits };
  const digest = noiseDigest(poseidon, {
    root: BigInt(bundle.manifest.root),
    nonce: BigInt(bundle.nonce),
    query: { aggregate: signals[4] as bigint, clauses },
    params,
  });
  const exact = evaluateQuery(canonicalQuery(query, schema), schema, records).answer;
  const shift = noiseDraw(poseidon, secret.seed, digest, params).shift;
  return String((exact as bigint) + shift - noiseCentre(params));
}
