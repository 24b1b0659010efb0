/**
 * @module prover/prove-pass
 *
 * Operator side of multi-query passes (design.md section 9): `provePass` answers 1..Q queries over a committed
 * chunked dataset with one chain of PassStep proofs and one PassFinal proof, as a pass bundle. It plans the
 * chain up front (planPassChain), refuses to prove unless the planned outputs equal those of the plain
 * reference evaluator (query/pass-evaluate.ts), proves every task (one `ChunkProver` job or sequentially on a
 * `ProverBackend`), checks every proof's signals against the plan and parses the bundle back strictly.
 *
 * Security caveats: the plan's inputs hold records, salts and blinds; they go only to the prover.
 */
import {
  type PassSlots,
  passCircuitId,
  passFinalCircuitId,
  passQueryShape,
  passShapeFor,
} from "../circuits/pass-shape.ts";
import {
  loweredPassFromPublic,
  paddingResult,
  passFinalSignals,
  passOutputsOf,
} from "../circuits/pass-statement.ts";
import { planPassChain } from "../circuits/pass-witness.ts";
import type { ChunkedCommitment } from "../dataset/chunk-commit.ts";
import { getPoseidon } from "../dataset/commitment.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import { canonicalPassQuery, encodePassPublic } from "../query/pass.ts";
import { evaluatePass } from "../query/pass-evaluate.ts";
import { CHAIN_BUNDLE_FORMAT } from "../verifier/bundle.ts";
import {
  describePassAnswer,
  type ParsedPassBundle,
  parsePassBundle,
  passAnswerOf,
} from "../verifier/pass-bundle.ts";
import { type ProveResult, type ProverBackend, ProverError } from "./backend.ts";
import { type ChunkProgressListener, type ChunkProver, type ChunkTask, checkChunkResult } from "./chunks.ts";

export interface ProvePassRequest {
  readonly manifest: ChunkedManifest;
  readonly committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">;
  /** The records in commitment order (encoded), for the reference evaluator. */
  readonly records: readonly (readonly bigint[])[];
  readonly queries: readonly unknown[];
  readonly nonce: bigint;
  readonly minGroupSize: number;
  readonly slots: PassSlots;
  readonly vkeyHashes: { readonly step: string; readonly final: string };
  readonly prover: ChunkProver | ProverBackend;
  readonly jobId?: string;
  readonly onProgress?: ChunkProgressListener;
  readonly blinds?: readonly bigint[];
  readonly createdAt?: Date | string;
}

async function proveTasks(request: ProvePassRequest, tasks: readonly ChunkTask[]): Promise<ProveResult[]> {
  const { prover } = request;
  if ("proveChunks" in prover) {
    const id = request.jobId ?? `pass-${request.nonce.toString(16).slice(0, 16)}`;
    return prover.proveChunks({ id, tasks }, request.onProgress);
  }
  const results: ProveResult[] = [];
  for (const task of tasks) results.push(await prover.prove(task.circuitId, task.input));
  return results;
}

/** Proves the queries as one pass chain and returns the parsed pass bundle. */
export async function provePass(request: ProvePassRequest): Promise<ParsedPassBundle> {
  const { manifest, committed } = request;
  if (String(committed.root) !== manifest.root || committed.recordCount !== manifest.recordCount) {
    throw new ProverError(
      `the committed chunks are not those of dataset ${manifest.datasetId} epoch ${manifest.epoch}`,
    );
  }
  const schema = manifest.schema;
  const shape = passShapeFor(schema, manifest.layout, request.slots);
  const ids = { step: passCircuitId(shape), final: passFinalCircuitId(shape) };
  const queries = request.queries.map((query) => canonicalPassQuery(query, schema));
  const encoded = encodePassPublic(queries, schema, passQueryShape(shape));
  const plan = planPassChain(await getPoseidon(), shape, committed, {
    nonce: request.nonce,
    query: encoded,
    minGroupSize: request.minGroupSize,
    ...(request.blinds === undefined ? {} : { blinds: request.blinds }),
  });
  const results = evaluatePass(queries, schema, request.records, request.minGroupSize);
  const reference = passOutputsOf(
    shape,
    loweredPassFromPublic(shape, encoded).map((query) => query.aggregate),
    results,
    paddingResult(committed.recordCount, request.minGroupSize),
  );
  const finalInputs = {
    root: committed.root,
    recordCount: committed.recordCount,
    minGroupSize: request.minGroupSize,
    nonce: request.nonce,
    query: encoded,
    accIn: 0n,
  };
  if (
    passFinalSignals(finalInputs, reference).join() !== passFinalSignals(finalInputs, plan.outputs).join()
  ) {
    throw new ProverError("the pass's planned answers differ from the reference evaluator's");
  }
  const tasks: ChunkTask[] = [
    ...plan.chunks.map((chunk) => ({
      circuitId: ids.step,
      input: chunk.input,
      expectedPublicSignals: chunk.publicSignals,
    })),
    { circuitId: ids.final, input: plan.final.input, expectedPublicSignals: plan.final.publicSignals },
  ];
  const proofs = await proveTasks(request, tasks);
  if (proofs.length !== tasks.length)
    throw new ProverError(`expected ${tasks.length} proofs, got ${proofs.length}`);
  proofs.forEach((result, index) => {
    checkChunkResult(tasks[index] as ChunkTask, index, tasks.length, result);
  });
  const answers = queries.map((query, q) =>
    passAnswerOf(query, results[q] as (typeof results)[number], schema),
  );
  const createdAt = request.createdAt ?? new Date();
  const entry = (result: ProveResult) => ({ publicSignals: result.publicSignals, proof: result.proof });
  return parsePassBundle({
    format: CHAIN_BUNDLE_FORMAT,
    kind: "pass",
    manifest,
    queries,
    answers,
    statements: queries.map((query, q) =>
      describePassAnswer(query, answers[q] as (typeof answers)[number], schema, request.minGroupSize),
    ),
    minGroupSize: request.minGroupSize,
    nonce: String(request.nonce),
    stepCircuitId: ids.step,
    stepVkeyHash: request.vkeyHashes.step,
    finalCircuitId: ids.final,
    finalVkeyHash: request.vkeyHashes.final,
    chunks: proofs.slice(0, -1).map(entry),
    final: entry(proofs[proofs.length - 1] as ProveResult),
    createdAt: createdAt instanceof Date ? createdAt.toISOString() : createdAt,
  });
}
