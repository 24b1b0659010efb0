/**
 * @module prover/prove-noisy-pass
 *
 * Operator side of noisy histogram cells (docs/privacy.md "Noisy histogram cells"): `proveNoisyHistograms`
 * answers H count histograms over a committed chunked dataset with one PassStep chain closed by
 * PassFinalNoisy, as a dp-histogram bundle. Each cell's noise params come from its privacy tier (a tier per
 * cell, e.g. by the country's risk): `planNoise` at the tier's (epsilon, delta), sensitivity 1. It plans the
 * chain (planPassChain), refuses to prove unless the planned cell counts equal the reference evaluator's and
 * the released cells the noise twin's, proves every task, and parses the bundle back strictly.
 *
 * Security caveats: the plan's inputs hold records, salts, blinds and the noise seed; they go only to the
 * prover. The bundle carries noisy values only.
 */
import {
  formatDelta,
  NOISE_MECHANISM,
  type NoiseParams,
  noiseCentre,
  parsePrivacyNumber,
  planNoise,
} from "../circuits/noise.ts";
import {
  type CellParams,
  makeNoisyPassShape,
  type NoisyPassFinalPublicInputs,
  noisyPassFinalCircuitId,
  noisyPassFinalPublicSignals,
} from "../circuits/pass-noise.ts";
import { noisyPassFinalInput, noisyPassReleased } from "../circuits/pass-noise-witness.ts";
import { type PassSlots, passCircuitId, passQueryShape, passShapeFor } from "../circuits/pass-shape.ts";
import { planPassChain } from "../circuits/pass-witness.ts";
import type { ChunkedCommitment } from "../dataset/chunk-commit.ts";
import { getPoseidon } from "../dataset/commitment.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import { type NoiseSecret, noiseSeedCommitment } from "../dataset/noise-seed.ts";
import { QueryError } from "../query/errors.ts";
import { canonicalPassQuery, encodePassPublic, type PassQuery } from "../query/pass.ts";
import { evaluatePass } from "../query/pass-evaluate.ts";
import { DP_CHAIN_BUNDLE_FORMAT } from "../verifier/dp-chain.ts";
import {
  type DpHistogramBundle,
  describeNoisyHistogram,
  type HistogramPrivacy,
  type NoisyHistogramAnswer,
  type PrivacyTier,
  parseDpHistogramBundle,
} from "../verifier/dp-histogram.ts";
import { cellKeys } from "../verifier/pass-bundle.ts";
import { type ProveResult, type ProverBackend, ProverError } from "./backend.ts";
import { type ChunkProgressListener, type ChunkProver, type ChunkTask, proveChunkTasks } from "./chunks.ts";

/** A privacy tier requested: its name and (epsilon, delta) per cell. */
export interface TierTarget {
  readonly name: string;
  readonly epsilon: number | string;
  readonly delta: number | string;
}

export interface HistogramNoiseOptions {
  readonly secret: NoiseSecret;
  /** NMAX and JMAX of the noisy final circuit. */
  readonly limits: { readonly maxCoins: number; readonly maxScaleBits: number };
  readonly tiers: readonly TierTarget[];
  /** The tier of a cell, from its key (e.g. ["FR", "5 to 99"]) and its table (query index). */
  readonly tierOf: (cell: readonly (string | boolean)[], table: number) => string;
}

export interface NoisyHistogramRequest {
  readonly manifest: ChunkedManifest;
  readonly committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">;
  /** The records in commitment order (encoded), for the reference evaluator. */
  readonly records: readonly (readonly bigint[])[];
  /** Exactly H count histograms. */
  readonly queries: readonly unknown[];
  readonly nonce: bigint;
  readonly slots: PassSlots;
  readonly noise: HistogramNoiseOptions;
  readonly vkeyHashes: { readonly step: string; readonly final: string };
  readonly prover: ChunkProver | ProverBackend;
  readonly jobId?: string;
  readonly onProgress?: ChunkProgressListener;
  readonly createdAt?: Date | string;
}

/** Plans every tier's params: the least-variance noise of at most NMAX coins at the tier's (epsilon, delta). */
export function planTiers(
  tiers: readonly TierTarget[],
  limits: HistogramNoiseOptions["limits"],
): { tier: PrivacyTier; params: NoiseParams }[] {
  return tiers.map((target) => {
    const text = (value: number | string, name: string) => {
      const written = typeof value === "number" ? String(value) : value;
      try {
        parsePrivacyNumber(written, name);
      } catch (error) {
        if (error instanceof RangeError)
          throw new QueryError(`noise.tiers.${target.name}.${name}`, error.message);
        throw error;
      }
      return written;
    };
    const epsilon = text(target.epsilon, "epsilon");
    const delta = Number(text(target.delta, "delta"));
    const plan = planNoise({ epsilon: Number(epsilon), delta, sensitivity: 1n }, limits);
    return {
      tier: { name: target.name, epsilon, delta: formatDelta(plan.delta), ...plan.params },
      params: plan.params,
    };
  });
}

function checkQueries(queries: readonly PassQuery[], histogramSlots: number): void {
  if (queries.length !== histogramSlots) {
    throw new QueryError("queries", `a noisy histogram pass answers exactly H = ${histogramSlots} tables`);
  }
  queries.forEach((query, q) => {
    if (query.aggregate.kind !== "histogram" || query.aggregate.sum !== undefined) {
      throw new QueryError(`queries[${q}].aggregate`, "noisy cells are counts: a histogram without `sum`");
    }
  });
}

/** Proves H noisy count histograms as one pass chain and returns the dp-histogram bundle. */
export async function proveNoisyHistograms(request: NoisyHistogramRequest): Promise<DpHistogramBundle> {
  const { manifest, committed, noise } = request;
  const schema = manifest.schema;
  const poseidon = await getPoseidon();
  const seedCommitment = noiseSeedCommitment(poseidon, noise.secret);
  if (manifest.noiseCommitment !== String(seedCommitment)) {
    throw new ProverError(
      `the noise secret does not open the manifest's noiseCommitment (${manifest.datasetId})`,
    );
  }
  if (String(committed.root) !== manifest.root || committed.recordCount !== manifest.recordCount) {
    throw new ProverError(
      `the committed chunks are not those of dataset ${manifest.datasetId} epoch ${manifest.epoch}`,
    );
  }
  const pass = passShapeFor(schema, manifest.layout, request.slots);
  const shape = makeNoisyPassShape({ pass, ...noise.limits });
  const queries = request.queries.map((query) => canonicalPassQuery(query, schema));
  checkQueries(queries, pass.histogramSlots);
  const tiers = planTiers(noise.tiers, noise.limits);
  const byName = new Map(tiers.map((entry) => [entry.tier.name, entry]));
  const cellTiers = queries.map((query, q) =>
    cellKeys(query, schema).map((key) => {
      const name = noise.tierOf(key, q);
      if (!byName.has(name))
        throw new QueryError("noise.tiers", `no tier ${JSON.stringify(name)} (cell ${key.join("/")})`);
      return { key, name };
    }),
  );
  const params: CellParams = cellTiers.map((row) =>
    Array.from({ length: pass.cells }, (_, g) => {
      const cell = row[g];
      return cell === undefined ? null : (byName.get(cell.name) as (typeof tiers)[number]).params;
    }),
  );
  const encoded = encodePassPublic(queries, schema, passQueryShape(pass));
  const plan = planPassChain(poseidon, pass, committed, {
    nonce: request.nonce,
    query: encoded,
    minGroupSize: 0,
  });
  const reference = evaluatePass(queries, schema, request.records, 0);
  reference.forEach((result, q) => {
    const counts = plan.opening.state.slots[q]?.cellCount ?? [];
    const same = result.kind === "histogram" && result.cells.every((cell, g) => cell.value === counts[g]);
    if (!same)
      throw new ProverError(`table ${q}: the planned cell counts differ from the reference evaluator's`);
  });
  const inputs: NoisyPassFinalPublicInputs = {
    root: committed.root,
    recordCount: committed.recordCount,
    nonce: request.nonce,
    query: encoded,
    accIn: plan.final.input.accIn as string,
    seedCommitment,
    params,
  };
  const released = noisyPassReleased(poseidon, inputs, plan.opening.state, noise.secret.seed);
  const finalId = noisyPassFinalCircuitId(shape);
  const stepId = passCircuitId(pass);
  const tasks: ChunkTask[] = [
    ...plan.chunks.map((chunk) => ({
      circuitId: stepId,
      input: chunk.input,
      expectedPublicSignals: chunk.publicSignals,
    })),
    {
      circuitId: finalId,
      input: noisyPassFinalInput(shape, inputs, plan.opening, noise.secret),
      expectedPublicSignals: noisyPassFinalPublicSignals(inputs, released),
    },
  ];
  const results = await proveChunkTasks(request.prover, tasks, {
    id: request.jobId ?? `dph-${request.nonce.toString(16).slice(0, 16)}`,
    ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
  });
  const privacy: HistogramPrivacy = {
    mechanism: NOISE_MECHANISM,
    sensitivity: "1",
    tiers: tiers.map((entry) => entry.tier),
  };
  const answers: NoisyHistogramAnswer[] = cellTiers.map((row, q) => ({
    kind: "histogram",
    cells: row.map((cell, g) => {
      const cellParams = (byName.get(cell.name) as (typeof tiers)[number]).params;
      const value = (released[q]?.[g] as bigint) - noiseCentre(cellParams);
      return { cell: cell.key, tier: cell.name, noisy: String(value) };
    }),
  }));
  const entry = (result: ProveResult) => ({ publicSignals: result.publicSignals, proof: result.proof });
  const createdAt = request.createdAt ?? new Date();
  return parseDpHistogramBundle({
    format: DP_CHAIN_BUNDLE_FORMAT,
    kind: "dp-histogram",
    manifest,
    queries,
    privacy,
    answers,
    statements: queries.map((query, q) =>
      describeNoisyHistogram(query, answers[q] as NoisyHistogramAnswer, privacy, schema),
    ),
    nonce: String(request.nonce),
    stepCircuitId: stepId,
    stepVkeyHash: request.vkeyHashes.step,
    finalCircuitId: finalId,
    finalVkeyHash: request.vkeyHashes.final,
    chunks: results.slice(0, -1).map(entry),
    final: entry(results[results.length - 1] as ProveResult),
    createdAt: createdAt instanceof Date ? createdAt.toISOString() : createdAt,
  }).bundle;
}
