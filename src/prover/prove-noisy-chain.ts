/**
 * @module prover/prove-noisy-chain
 *
 * Operator side of differentially private answers (design.md section 8, docs/privacy.md): `proveNoisyChain`
 * (reached through `proveChain(request with noise)`) answers a count or a (clamped) sum over a chunked
 * dataset with noise drawn in the final proof from the seed the signed manifest commits to. It plans the
 * chain (chain-plan.ts), picks the noise params of least variance for the requested (epsilon, delta) and the
 * query's sensitivity (planNoise), computes the released value with the TypeScript twin and checks it against
 * the plain reference evaluator's answer plus the twin's noise, proves every chunk and the noisy final step,
 * and builds a `zktally-bundle/v3` dp-chain bundle, parsed back with the verifier's strict parser.
 *
 * Security caveats: the noise secret (seed, blind) goes only into the final step's witness input; it is never
 * logged, never in the bundle. Neither is the true answer: the bundle states only the noisy one.
 */
import { chunkQueryShape } from "../circuits/chunk-shape.ts";
import {
  formatDelta,
  makeNoisyFinalShape,
  NOISE_MECHANISM,
  type NoisyFinalPublicInputs,
  type NoisyFinalShape,
  noiseCentre,
  noisyFinalCircuitId,
  noisyFinalPublicSignals,
  parsePrivacyNumber,
  planNoise,
  sensitivityOf,
} from "../circuits/noise.ts";
import { noisyFinalInput, noisyReleased } from "../circuits/noise-witness.ts";
import { fieldDomains } from "../dataset/chunk-layout.ts";
import { getPoseidon } from "../dataset/commitment.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import { type NoiseSecret, noiseSeedCommitment } from "../dataset/noise-seed.ts";
import { QueryError } from "../query/errors.ts";
import { evaluateQuery } from "../query/evaluate.ts";
import { decodeAggregateElement } from "../query/lower.ts";
import {
  DP_CHAIN_BUNDLE_FORMAT,
  type DpChainBundle,
  describeNoisyStatement,
  parseDpChainBundle,
} from "../verifier/dp-chain.ts";
import { type ProveResult, type ProverBackend, ProverError } from "./backend.ts";
import { type ChainPlanRequest, planChainTasks } from "./chain-plan.ts";
import { type ChunkProgressListener, type ChunkProver, type ChunkTask, proveChunkTasks } from "./chunks.ts";

/** Default noisy final step: up to 8192 coins (epsilon >= about 0.11 at delta = 1e-9 for a count), s <= 2^32. */
export const DEFAULT_NOISE_LIMITS = Object.freeze({ maxCoins: 8192, maxScaleBits: 32 });

/** The `noise` option of proveChain. */
export interface ChainNoiseOptions {
  /** Per-answer epsilon (a positive decimal: 1, 0.5, "0.1"). */
  readonly epsilon: number | string;
  /** Per-answer delta target in (0, 1) (1e-9, "1e-9"); the bundle states the delta the params achieve. */
  readonly delta: number | string;
  /** The dataset's noise seed and blind (deriveNoiseSecret); must open manifest.noiseCommitment. */
  readonly secret: NoiseSecret;
  /** The noisy final circuit's NMAX and JMAX (default DEFAULT_NOISE_LIMITS). */
  readonly limits?: { readonly maxCoins: number; readonly maxScaleBits: number };
}

/** What proveNoisyChain needs (a ProveChainRequest with `noise` fits). */
export interface NoisyChainRequest extends ChainPlanRequest {
  readonly manifest: ChunkedManifest;
  readonly records: readonly (readonly bigint[])[];
  readonly minGroupSize?: number;
  readonly vkeyHashes: { readonly chunk: string; readonly final: string };
  readonly prover: ChunkProver | ProverBackend;
  readonly jobId?: string;
  readonly onProgress?: ChunkProgressListener;
  readonly createdAt?: Date | string;
  readonly noise: ChainNoiseOptions;
}

/** The id of the noisy final circuit for a chunk layout's query shape (C, W) and the limits. */
export function noisyFinalShapeFor(
  query: { readonly clauses: number; readonly width: number },
  limits: { readonly maxCoins: number; readonly maxScaleBits: number } = DEFAULT_NOISE_LIMITS,
): NoisyFinalShape {
  return makeNoisyFinalShape({ clauses: query.clauses, width: query.width, ...limits });
}

function privacyText(value: number | string, name: string): string {
  const text = typeof value === "number" ? String(value) : value;
  try {
    parsePrivacyNumber(text, name);
  } catch (error) {
    if (error instanceof RangeError) throw new QueryError(`noise.${name}`, error.message);
    throw error;
  }
  return text;
}

/** Proves a dp-chain bundle (see the module comment). */
export async function proveNoisyChain(request: NoisyChainRequest): Promise<DpChainBundle> {
  const { manifest, noise } = request;
  if ((request.minGroupSize ?? 0) !== 0) {
    throw new QueryError(
      "minGroupSize",
      "noisy answers are not suppressed (withhold on the noisy value instead)",
    );
  }
  const epsilonText = privacyText(noise.epsilon, "epsilon");
  const epsilon = Number(epsilonText);
  const targetDelta = Number(privacyText(noise.delta, "delta"));
  if (!(targetDelta < 1)) throw new QueryError("noise.delta", "delta must be below 1");
  const poseidon = await getPoseidon();
  const seedCommitment = noiseSeedCommitment(poseidon, noise.secret);
  if (manifest.noiseCommitment !== String(seedCommitment)) {
    throw new ProverError(
      `the noise secret does not open the manifest's noiseCommitment (dataset ${manifest.datasetId} epoch ${manifest.epoch})`,
    );
  }
  const planned = await planChainTasks(request, 0);
  const { query, plan, shape, encoded } = planned;
  if (query.aggregate.kind !== "count" && query.aggregate.kind !== "sum") {
    throw new QueryError("aggregate.kind", `a noisy answer is a count or a sum, not ${query.aggregate.kind}`);
  }
  const queryShape = chunkQueryShape(shape);
  const finalShape = noisyFinalShapeFor(queryShape, noise.limits);
  const aggregate = decodeAggregateElement(encoded.aggregate, queryShape.width);
  const sensitivity = sensitivityOf(aggregate, fieldDomains(manifest.schema));
  const noisePlan = planNoise({ epsilon, delta: targetDelta, sensitivity }, finalShape);
  const opening = openingOf(plan.final.input);
  const inputs: NoisyFinalPublicInputs = {
    root: BigInt(manifest.root),
    recordCount: manifest.recordCount,
    nonce: request.nonce,
    query: encoded,
    accIn: BigInt(plan.final.input.accIn),
    seedCommitment,
    params: noisePlan.params,
  };
  const twin = noisyReleased(poseidon, inputs, opening.state, noise.secret.seed);
  const reference = evaluateQuery(query, manifest.schema, request.records).answer;
  if (typeof reference !== "bigint" || twin.released !== reference + twin.draw.shift) {
    throw new ProverError("the chain's planned answer differs from the reference evaluator's");
  }
  const finalId = noisyFinalCircuitId(finalShape);
  const tasks: ChunkTask[] = [
    ...planned.chunkTasks,
    {
      circuitId: finalId,
      input: noisyFinalInput(finalShape, inputs, opening, noise.secret) as unknown as Record<string, unknown>,
      expectedPublicSignals: noisyFinalPublicSignals(inputs, twin.released),
    },
  ];
  const results = await proveChunkTasks(request.prover, tasks, {
    id: request.jobId ?? `dp-${request.nonce.toString(16).slice(0, 16)}`,
    ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
  });
  const answer = { kind: query.aggregate.kind, noisy: String(twin.released - noiseCentre(noisePlan.params)) };
  const privacy = {
    mechanism: NOISE_MECHANISM,
    epsilon: epsilonText,
    delta: formatDelta(noisePlan.delta),
    sensitivity: String(sensitivity),
    coins: noisePlan.params.coins,
    scaleBits: noisePlan.params.scaleBits,
  };
  const entry = (result: Pick<ProveResult, "proof" | "publicSignals">) => ({
    publicSignals: result.publicSignals,
    proof: result.proof,
  });
  const createdAt = request.createdAt ?? new Date();
  return parseDpChainBundle({
    format: DP_CHAIN_BUNDLE_FORMAT,
    kind: "dp-chain",
    manifest,
    query,
    statement: describeNoisyStatement({ manifest, schema: manifest.schema, query, answer, privacy }),
    answer,
    privacy,
    nonce: String(request.nonce),
    chunkCircuitId: planned.chunkCircuitId,
    chunkVkeyHash: request.vkeyHashes.chunk,
    finalCircuitId: finalId,
    finalVkeyHash: request.vkeyHashes.final,
    chunks: results.slice(0, -1).map(entry),
    final: entry(results[results.length - 1] as ProveResult),
    createdAt: createdAt instanceof Date ? createdAt.toISOString() : createdAt,
  }).bundle;
}

/** The last accumulator's opening, read back from the planned ChunkFinal input. */
function openingOf(input: Record<string, unknown>) {
  const big = (name: string) => BigInt(input[name] as string);
  return {
    state: {
      realSeen: big("realSeen"),
      keyFloor: big("keyFloor"),
      count: big("count"),
      sum: big("sum"),
      max: big("max"),
    },
    blind: big("blind"),
  };
}
