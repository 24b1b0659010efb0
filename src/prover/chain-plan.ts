/**
 * @module prover/chain-plan
 *
 * The part of proving a chain that exact and noisy answers share (design.md 7, 8): check that the committed
 * chunks are the manifest's, canonicalise and encode the query for the chunk circuit its schema, layout, slots
 * and clamp determine, plan every accumulator up front (planChain) and turn the chunks into prover tasks.
 *
 * Security caveats: the plan and the tasks hold records, salts and blinds: prover side only, never logged.
 */
import { type ChunkShape, chunkCircuitId, chunkQueryShape, chunkShapeFor } from "../circuits/chunk-shape.ts";
import { type ChainPlan, planChain } from "../circuits/chunk-witness.ts";
import type { ChunkedCommitment } from "../dataset/chunk-commit.ts";
import { getPoseidon } from "../dataset/commitment.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import { canonicalQuery } from "../query/canonical.ts";
import { encodeQueryPublic, type QueryPublicElements } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import { ProverError } from "./backend.ts";
import type { ChunkTask } from "./chunks.ts";

export interface ChainPlanRequest {
  readonly manifest: ChunkedManifest;
  readonly committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">;
  readonly query: unknown;
  readonly nonce: bigint;
  readonly querySlots: { readonly clauses: number; readonly setSize: number };
  readonly blinds?: readonly bigint[];
}

export interface PlannedChain {
  readonly shape: ChunkShape;
  readonly chunkCircuitId: string;
  /** The canonical readable query. */
  readonly query: Query;
  readonly encoded: QueryPublicElements;
  readonly plan: ChainPlan;
  /** One task per chunk, in chunk order (the final step's task is the caller's). */
  readonly chunkTasks: readonly ChunkTask[];
}

/** Plans the chunk half of a chain; a clamped sum selects the clamped chunk circuit (design.md 8.3). */
export async function planChainTasks(
  request: ChainPlanRequest,
  minGroupSize: number,
  dominanceShare = 0,
): Promise<PlannedChain> {
  const { manifest, committed } = request;
  if (String(committed.root) !== manifest.root || committed.recordCount !== manifest.recordCount) {
    throw new ProverError(
      `the committed chunks are not those of dataset ${manifest.datasetId} epoch ${manifest.epoch}`,
    );
  }
  const schema = manifest.schema;
  const query = canonicalQuery(request.query, schema);
  const clamp = query.aggregate.kind === "sum" && query.aggregate.clamp !== undefined;
  const shape = chunkShapeFor(schema, manifest.layout, { ...request.querySlots, clamp });
  const encoded = encodeQueryPublic(query, schema, chunkQueryShape(shape));
  const plan = planChain(await getPoseidon(), shape, committed, {
    nonce: request.nonce,
    query: encoded,
    minGroupSize,
    dominanceShare,
    ...(request.blinds === undefined ? {} : { blinds: request.blinds }),
  });
  const id = chunkCircuitId(shape);
  const chunkTasks = plan.chunks.map((chunk) => ({
    circuitId: id,
    input: chunk.input as unknown as Record<string, unknown>,
    expectedPublicSignals: chunk.publicSignals,
  }));
  return { shape, chunkCircuitId: id, query, encoded, plan, chunkTasks };
}
