/**
 * @module release/release
 *
 * Builds a geoeditors-style release (docs/privacy.md "Releases"): one count histogram per wiki value (records
 * with `wiki = w` per country x activity level), packed H tables to a noisy pass (the last pass padded by
 * repeating its last table: the same query and nonce give the same noise, so a repeat reveals nothing), every
 * cell noised at its country's tier, proven with `proveNoisyHistograms`, then the TSV of the cells whose noisy
 * value reaches the threshold. Shared by `zktally release` (src/cli/commands/release.ts) and the admin
 * endpoint (admitted in src/service/release-admission.ts, proven by src/service/release-runner.ts); verified
 * by `verifyRelease` (src/verifier/release.ts). `releaseCircuitIds` names the two circuits a release needs
 * (`zktally release` sets them up, the service announces them in every chunked manifest).
 *
 * Security caveats: the request holds the records and the noise seed (operator side only); the outputs carry
 * noisy values only. The charge of a release is one (epsilon_tier, delta_tier) per tier (`releaseCharges`;
 * the service charges it per country of the tier, src/service/release-budget.ts).
 */
import { makeNoisyPassShape, type NoisyPassShape, noisyPassFinalCircuitId } from "../circuits/pass-noise.ts";
import { type PassSlots, passCircuitId, passShapeFor } from "../circuits/pass-shape.ts";
import type { ChunkedCommitment } from "../dataset/chunk-commit.ts";
import type { ChunkLayout } from "../dataset/chunk-layout.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import type { NoiseSecret } from "../dataset/noise-seed.ts";
import type { Schema } from "../dataset/schema.ts";
import type { ProverBackend } from "../prover/backend.ts";
import type { ChunkProgress, ChunkProver } from "../prover/chunks.ts";
import { proveNoisyHistograms } from "../prover/prove-noisy-pass.ts";
import type { DpHistogramBundle } from "../verifier/dp-histogram.ts";
import {
  enumValues,
  RELEASE_FORMAT,
  type ReleaseDocument,
  type ReleaseFields,
  type ReleaseTier,
  releaseCells,
  releaseQuery,
  releaseTsv,
} from "../verifier/release.ts";
import type { RiskList } from "./risk.ts";

export interface ReleaseRequest {
  readonly manifest: ChunkedManifest;
  readonly committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">;
  readonly records: readonly (readonly bigint[])[];
  readonly fields: ReleaseFields;
  readonly risk: RiskList;
  readonly threshold: number;
  readonly nonce: bigint;
  /** The pass circuit's slots (queries = histogramSlots = tables per pass). */
  readonly slots: PassSlots;
  readonly noise: {
    readonly secret: NoiseSecret;
    readonly limits: { maxCoins: number; maxScaleBits: number };
  };
  readonly vkeyHashes: { readonly step: string; readonly final: string };
  readonly prover: ChunkProver | ProverBackend;
  readonly createdAt?: Date | string;
  /** Chunk progress of each pass (`pass` of `passes`). */
  readonly onProgress?: (pass: number, passes: number, progress: ChunkProgress) => void;
}

export interface Release {
  readonly document: ReleaseDocument;
  readonly tsv: string;
  readonly rows: number;
  readonly withheld: number;
}

/** The release circuits of a schema and layout: the PassStep of H tables and its PassFinalNoisy. */
export interface ReleaseCircuitIds {
  readonly slots: PassSlots;
  readonly shape: NoisyPassShape;
  readonly stepId: string;
  readonly finalId: string;
}

/** The pass slots of a release: one wiki eq clause, the country x activity table padded to a power of two. */
export function releaseSlots(schema: Schema, fields: ReleaseFields, tables: number): PassSlots {
  const used = enumValues(schema, fields.country).length * enumValues(schema, fields.activity).length;
  return {
    clauses: 3,
    setSize: 3,
    queries: tables,
    histogramSlots: tables,
    cells: 2 ** Math.ceil(Math.log2(used)),
  };
}

/** The release circuit ids (shared by `zktally release` and the service's manifests). */
export function releaseCircuitIds(
  schema: Schema,
  layout: ChunkLayout,
  fields: ReleaseFields,
  tables: number,
  limits: { readonly maxCoins: number; readonly maxScaleBits: number },
): ReleaseCircuitIds {
  const slots = releaseSlots(schema, fields, tables);
  const pass = passShapeFor(schema, layout, slots);
  const shape = makeNoisyPassShape({ pass, ...limits });
  return { slots, shape, stepId: passCircuitId(pass), finalId: noisyPassFinalCircuitId(shape) };
}

/** The wiki tables grouped H to a pass, the last group padded by repeating its last table. */
export function releaseGroups(wikis: readonly string[], perPass: number): string[][] {
  const groups: string[][] = [];
  for (let at = 0; at < wikis.length; at += perPass) groups.push(wikis.slice(at, at + perPass));
  const last = groups[groups.length - 1];
  while (last !== undefined && last.length < perPass) last.push(last[last.length - 1] as string);
  return groups;
}

/** What a release costs: per tier, one (epsilon, delta) (cells disjoint within a table, one unit per record). */
export function releaseCharges(
  tiers: readonly ReleaseTier[],
): { tier: string; epsilon: number; delta: number }[] {
  return tiers.map((tier) => ({ tier: tier.name, epsilon: Number(tier.epsilon), delta: Number(tier.delta) }));
}

/** Proves the release and writes its document and TSV (see the module comment). */
export async function buildRelease(request: ReleaseRequest): Promise<Release> {
  const { manifest, fields, risk } = request;
  const schema = manifest.schema;
  if (request.slots.queries !== request.slots.histogramSlots) {
    throw new RangeError("a release pass has as many query slots as histogram slots (Q = H)");
  }
  const wikis = enumValues(schema, fields.wiki);
  const createdAt = request.createdAt ?? new Date();
  const stamp = createdAt instanceof Date ? createdAt.toISOString() : createdAt;
  const bundles: DpHistogramBundle[] = [];
  const groups = releaseGroups(wikis, request.slots.histogramSlots);
  for (const [index, group] of groups.entries()) {
    const onProgress = request.onProgress;
    bundles.push(
      await proveNoisyHistograms({
        manifest,
        committed: request.committed,
        records: request.records,
        queries: group.map((wiki) => releaseQuery(fields, wiki, schema)),
        nonce: request.nonce,
        slots: request.slots,
        noise: {
          ...request.noise,
          tiers: risk.tiers,
          tierOf: (cell) => risk.countryTiers[String(cell[0])] as string,
        },
        vkeyHashes: request.vkeyHashes,
        prover: request.prover,
        jobId: `release-${request.nonce.toString(16).slice(0, 12)}-${index}`,
        createdAt: stamp,
        ...(onProgress === undefined
          ? {}
          : { onProgress: (progress) => onProgress(index, groups.length, progress) }),
      }),
    );
  }
  const document: ReleaseDocument = {
    format: RELEASE_FORMAT,
    datasetId: manifest.datasetId,
    epoch: manifest.epoch,
    fields,
    threshold: request.threshold,
    tiers: risk.tiers,
    countryTiers: risk.countryTiers,
    nonce: String(request.nonce),
    bundles,
    createdAt: stamp,
  };
  const cells = releaseCells(document, schema);
  const tsv = releaseTsv(cells, request.threshold);
  const rows = tsv.split("\n").length - 2;
  return { document, tsv, rows, withheld: cells.length - rows };
}
