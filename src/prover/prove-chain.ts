/**
 * @module prover/prove-chain
 *
 * Operator side of chunk chains (design.md section 7): `proveChain` answers one query over a committed
 * chunked dataset as a `zktally-bundle/v2` chain bundle. It plans the whole chain up front (planChain: every
 * accumulator and blind), checks the planned answer against the plain reference evaluator, proves every
 * chunk and the final step (one `ChunkProver` job, so the process pool or the distributed coordinator can
 * prove the chunks in parallel, or sequentially on a `ProverBackend`), checks every proof's signals against
 * the plan, and builds the bundle (`buildChainBundle`), which is parsed back with the verifier's own
 * strict parser before it is returned.
 *
 * Security caveats: the plan's inputs hold records, salts and blinds; they go only to the prover (never
 * logged, never into the bundle). The bundle holds the chunk proofs' public signals, whose accumulators
 * are hiding commitments: only the final answer (or "suppressed") is revealed.
 */
import { finalCircuitId, finalShapeOf } from "../circuits/chunk-shape.ts";
import type { ChunkedCommitment } from "../dataset/chunk-commit.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import { QueryError } from "../query/errors.ts";
import { evaluateQuery } from "../query/evaluate.ts";
import type { Query } from "../query/model.ts";
import { CHAIN_BUNDLE_FORMAT, type ChainBundle, parseChainBundle } from "../verifier/chain-bundle.ts";
import { describeStatement } from "../verifier/describe.ts";
import type { DpChainBundle } from "../verifier/dp-chain.ts";
import { type ProveResult, type ProverBackend, ProverError } from "./backend.ts";
import { planChainTasks } from "./chain-plan.ts";
import { type ChunkProgressListener, type ChunkProver, type ChunkTask, proveChunkTasks } from "./chunks.ts";
import { type ChainNoiseOptions, proveNoisyChain } from "./prove-noisy-chain.ts";
import { dominanceField, type ReadableAnswer, readableAnswer } from "./prove-query.ts";

export interface ProveChainRequest {
  /** The signed version-2 manifest of the dataset. */
  readonly manifest: ChunkedManifest;
  /** The committed chunks (commitChunks, or the chunk store's chunks); root must be the manifest's. */
  readonly committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">;
  /** The records in commitment order (encoded, schema order), for the reference evaluator. */
  readonly records: readonly (readonly bigint[])[];
  readonly query: unknown;
  readonly nonce: bigint;
  readonly minGroupSize: number;
  /** Dominance share (percent, sums; 0 or absent = off): a dominated sum is suppressed, proven. */
  readonly dominanceShare?: number;
  /** Clause slots and set size of the chunk circuit to use. */
  readonly querySlots: { readonly clauses: number; readonly setSize: number };
  /** Hex SHA-256 of the canonical JSON of each pinned verification key. */
  readonly vkeyHashes: { readonly chunk: string; readonly final: string };
  /** Proves the tasks: a `ChunkProver` (pool, distributed) or a `ProverBackend` (sequential). */
  readonly prover: ChunkProver | ProverBackend;
  /** Job id for a `ChunkProver` (default `chain-<nonce prefix>`). */
  readonly jobId?: string;
  readonly onProgress?: ChunkProgressListener;
  /** Fixed blinds (tests only); fresh random ones otherwise. */
  readonly blinds?: readonly bigint[];
  readonly createdAt?: Date | string;
  /**
   * Answer with differential privacy (design.md 8, docs/privacy.md): noise drawn in the final proof from the
   * seed the manifest commits to; the result is a `zktally-bundle/v3` dp-chain bundle, `vkeyHashes.final`
   * is the noisy final step's key and `minGroupSize` must be 0.
   */
  readonly noise?: ChainNoiseOptions;
}

export interface BuildChainBundleInput {
  readonly manifest: ChunkedManifest;
  readonly query: Query;
  readonly answer: ReadableAnswer;
  readonly minGroupSize: number;
  /** Absent or 0: no dominance rule (the bundle then has no dominanceShare field). */
  readonly dominanceShare?: number;
  readonly nonce: bigint | string;
  readonly chunkCircuitId: string;
  readonly chunkVkeyHash: string;
  readonly finalCircuitId: string;
  readonly finalVkeyHash: string;
  readonly chunks: readonly Pick<ProveResult, "proof" | "publicSignals">[];
  readonly final: Pick<ProveResult, "proof" | "publicSignals">;
  readonly createdAt?: Date | string;
}

/** Assembles a chain bundle and parses it strictly (throws `VerifierInputError` if it would be malformed). */
export function buildChainBundle(input: BuildChainBundleInput): ChainBundle {
  const createdAt = input.createdAt ?? new Date();
  const entry = (result: Pick<ProveResult, "proof" | "publicSignals">) => ({
    publicSignals: result.publicSignals,
    proof: result.proof,
  });
  const draft = {
    format: CHAIN_BUNDLE_FORMAT,
    kind: "chain",
    manifest: input.manifest,
    query: input.query,
    statement: describeStatement({
      manifest: input.manifest,
      schema: input.manifest.schema,
      query: input.query,
      answer: input.answer,
      minGroupSize: input.minGroupSize,
      ...dominanceField(input.dominanceShare),
    }),
    answer: input.answer,
    minGroupSize: input.minGroupSize,
    ...dominanceField(input.dominanceShare),
    nonce: String(input.nonce),
    chunkCircuitId: input.chunkCircuitId,
    chunkVkeyHash: input.chunkVkeyHash,
    finalCircuitId: input.finalCircuitId,
    finalVkeyHash: input.finalVkeyHash,
    chunks: input.chunks.map(entry),
    final: entry(input.final),
    createdAt: createdAt instanceof Date ? createdAt.toISOString() : createdAt,
  };
  return parseChainBundle(draft).bundle;
}

/** Proves a chain's tasks under the request's job id (default `chain-<nonce prefix>`), checked. */
function proveTasks(request: ProveChainRequest, tasks: readonly ChunkTask[]): Promise<ProveResult[]> {
  const id = request.jobId ?? `chain-${request.nonce.toString(16).slice(0, 16)}`;
  return proveChunkTasks(request.prover, tasks, {
    id,
    ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
  });
}

/**
 * Proves `request.query` over the chunked dataset as a chain and returns the chain bundle. Throws
 * `QueryError`/`RangeError` for a query the chunk circuit cannot take, `ProverError` when the committed
 * chunks are not the manifest's, when the planned answer differs from the reference evaluator's or when a
 * proof carries other signals than planned, and `WitnessError` when a witness fails.
 */
export async function proveChain(
  request: ProveChainRequest & { readonly noise: ChainNoiseOptions },
): Promise<DpChainBundle>;
export async function proveChain(
  request: ProveChainRequest & { readonly noise?: undefined },
): Promise<ChainBundle>;
export async function proveChain(request: ProveChainRequest): Promise<ChainBundle | DpChainBundle> {
  if (request.noise !== undefined) return proveNoisyChain({ ...request, noise: request.noise });
  const dominanceShare = request.dominanceShare ?? 0;
  const planned = await planChainTasks(request, request.minGroupSize, dominanceShare);
  const { query, plan } = planned;
  if (planned.shape.clamp === true) {
    throw new QueryError(
      "aggregate.clamp",
      "a clamped sum is answered with noise only (give the noise option)",
    );
  }
  const schema = request.manifest.schema;
  const manifest = request.manifest;
  const ids = { chunk: planned.chunkCircuitId, final: finalCircuitId(finalShapeOf(planned.shape)) };
  const reference = evaluateQuery(query, schema, request.records, {
    minGroupSize: request.minGroupSize,
    dominanceShare,
  });
  const referenceAnswer = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
  if (
    plan.outputs.answer !== referenceAnswer ||
    plan.outputs.suppressed !== (reference.suppressed ? 1n : 0n)
  ) {
    throw new ProverError("the chain's planned answer differs from the reference evaluator's");
  }
  const tasks: ChunkTask[] = [
    ...planned.chunkTasks,
    {
      circuitId: ids.final,
      input: plan.final.input as unknown as Record<string, unknown>,
      expectedPublicSignals: plan.final.publicSignals,
    },
  ];
  const results = await proveTasks(request, tasks);
  return buildChainBundle({
    manifest,
    query,
    answer: readableAnswer(query.aggregate.kind, plan.outputs.suppressed, plan.outputs.answer),
    minGroupSize: request.minGroupSize,
    ...dominanceField(dominanceShare),
    nonce: request.nonce,
    chunkCircuitId: ids.chunk,
    chunkVkeyHash: request.vkeyHashes.chunk,
    finalCircuitId: ids.final,
    finalVkeyHash: request.vkeyHashes.final,
    chunks: results.slice(0, -1),
    final: results[results.length - 1] as ProveResult,
    ...(request.createdAt === undefined ? {} : { createdAt: request.createdAt }),
  });
}
