/**
 * @module verifier/dp-histogram
 *
 * The differentially private histogram bundle (`zktally-bundle/v3`, `kind: "dp-histogram"`, docs/bundle.md
 * "DP histogram bundles", docs/privacy.md "Noisy histogram cells"): 1..H count histograms over a chunked
 * dataset proven by one PassStep chain closed by `PassFinalNoisy`, every cell released with noise drawn in the
 * proof from the seed the signed manifest commits to. `privacy` = {mechanism, sensitivity "1", tiers: [{name,
 * epsilon, delta, coins, scaleBits}]}; each answer lists every cell of its table in cell order as
 * {cell, tier, noisy}: the cell's noise params are its tier's (epsilon per country risk tier, for example).
 *
 * `verifyDpHistogram` checks, in order: the structure (strict); the request nonce when given; the manifest
 * (pinned / signed) and its noise commitment; the step circuit the signed schema and layout give and the
 * noisy final of its shape, both announced by the manifest and pinned; every statement sentence; every tier's
 * claim (the mechanism, params within the final circuit, delta recomputed at epsilon within the stated delta);
 * the chain's signals (circuits/pass-noise.ts) with each released cell = noisy + centre of its tier's params;
 * every proof (chunks in one randomised batch, then the final proof).
 *
 * Security caveats: keys come only from `options`. The guarantee is per cell, (epsilon_tier, delta_tier) under
 * add/remove neighbours, cells of a table disjoint (parallel composition); composing several tables or
 * releases is the budget's job. Browser-safe: no Node.js imports, no prover code.
 */
import {
  checkNoiseParams,
  NOISE_MECHANISM,
  type NoiseParams,
  noiseCentre,
  noiseDelta,
  parsePrivacyNumber,
} from "../circuits/noise.ts";
import {
  type CellParams,
  checkNoisyPassChainSignals,
  makeNoisyPassShape,
  type NoisyPassShape,
  noisyPassFinalCircuitId,
  noisyPassFinalPublicSignalNames,
} from "../circuits/pass-noise.ts";
import {
  type PassShape,
  passCircuitId,
  passQueryShape,
  passShapeFor,
  passShapeFromId,
  passStepSignalCount,
} from "../circuits/pass-shape.ts";
import { type ChunkedManifest, manifestHash } from "../dataset/manifest.ts";
import type { Schema } from "../dataset/schema.ts";
import {
  describePassQuery,
  encodePassPublic,
  type PassPublicElements,
  type PassQuery,
  passQueryHash,
} from "../query/pass.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import type { RandomBytes } from "./batch.ts";
import {
  claimsFormat,
  describeValue,
  expectFields,
  expectString,
  frozenJsonCopy,
  parseCreatedAt,
  parseVkeyHash,
  readJsonInput,
} from "./bundle.ts";
import { MAX_CHAIN_CHUNKS, parseChainManifest, parseEntry } from "./chain-bundle.ts";
import { DP_CHAIN_BUNDLE_FORMAT } from "./dp-chain.ts";
import { VerifierInputError } from "./errors.ts";
import type { ParsedProof } from "./parse.ts";
import { parseScalar } from "./parse.ts";
import { cellKeys, type ParsedPassChainProofs, parsePassQueries } from "./pass-bundle.ts";
import { checkManifest, checkOptions, type RejectionCheck, type VerifyOptions } from "./verify-bundle.ts";
import { passChainProofFailure, pinnedPassKeys } from "./verify-pass.ts";
import type { PreparedVerifyingKey } from "./vkey.ts";

/** One privacy tier: the (epsilon, delta) claim of every cell noised with its params. */
export interface PrivacyTier {
  readonly name: string;
  readonly epsilon: string;
  readonly delta: string;
  readonly coins: number;
  readonly scaleBits: number;
}

export interface HistogramPrivacy {
  readonly mechanism: typeof NOISE_MECHANISM;
  /** Per cell: one record changes one cell's count by at most 1. */
  readonly sensitivity: "1";
  readonly tiers: readonly PrivacyTier[];
}

export interface NoisyCell {
  readonly cell: readonly (string | boolean)[];
  readonly tier: string;
  /** The noisy count, a signed decimal. */
  readonly noisy: string;
}

export interface NoisyHistogramAnswer {
  readonly kind: "histogram";
  readonly cells: readonly NoisyCell[];
}

export interface DpHistogramBundle {
  readonly format: typeof DP_CHAIN_BUNDLE_FORMAT;
  readonly kind: "dp-histogram";
  readonly manifest: ChunkedManifest;
  readonly queries: readonly PassQuery[];
  readonly privacy: HistogramPrivacy;
  readonly answers: readonly NoisyHistogramAnswer[];
  readonly statements: readonly string[];
  readonly nonce: string;
  readonly stepCircuitId: string;
  readonly stepVkeyHash: string;
  readonly finalCircuitId: string;
  readonly finalVkeyHash: string;
  readonly chunks: readonly { readonly publicSignals: readonly string[]; readonly proof: unknown }[];
  readonly final: { readonly publicSignals: readonly string[]; readonly proof: unknown };
  readonly createdAt: string;
}

export interface ParsedDpHistogramBundle extends ParsedPassChainProofs {
  readonly bundle: DpHistogramBundle;
  readonly schema: Schema;
  readonly shape: NoisyPassShape;
  readonly nonce: bigint;
  readonly encodedQuery: PassPublicElements;
  readonly tiers: ReadonlyMap<string, { params: NoiseParams; epsilon: number; delta: number }>;
  readonly params: CellParams;
  /** H x G released values the answers claim (noisy + centre, 0 beyond each table). */
  readonly released: readonly (readonly bigint[])[];
  readonly queryHashes: readonly string[];
}

const FIELDS = [
  "format",
  "kind",
  "manifest",
  "queries",
  "privacy",
  "answers",
  "statements",
  "nonce",
  "stepCircuitId",
  "stepVkeyHash",
  "finalCircuitId",
  "finalVkeyHash",
  "chunks",
  "final",
  "createdAt",
] as const;
const TIER_NAME = /^[A-Za-z0-9._-]{1,32}$/;
const MAX_TIERS = 16;

function asInput<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof RangeError) throw new VerifierInputError(field, error.message);
    throw error;
  }
}

function parseShapes(record: Record<string, unknown>): NoisyPassShape {
  const stepId = expectString(record.stepCircuitId, "stepCircuitId");
  const pass = asInput("stepCircuitId", () => passShapeFromId(stepId));
  const finalId = expectString(record.finalCircuitId, "finalCircuitId");
  const match = /-n([1-9]\d*)-j([1-9]\d*)$/.exec(finalId);
  const shape = asInput("finalCircuitId", () =>
    makeNoisyPassShape({ pass, maxCoins: Number(match?.[1] ?? 0), maxScaleBits: Number(match?.[2] ?? 0) }),
  );
  if (noisyPassFinalCircuitId(shape) !== finalId) {
    throw new VerifierInputError(
      "finalCircuitId",
      `expected the noisy pass final of the step circuit's shape, got ${JSON.stringify(finalId)}`,
    );
  }
  return shape;
}

function parseTiers(value: unknown, shape: NoisyPassShape): ParsedDpHistogramBundle["tiers"] {
  const record = expectFields(value, "privacy", ["mechanism", "sensitivity", "tiers"]);
  if (record.mechanism !== NOISE_MECHANISM) {
    throw new VerifierInputError("privacy.mechanism", `expected ${JSON.stringify(NOISE_MECHANISM)}`);
  }
  if (record.sensitivity !== "1") throw new VerifierInputError("privacy.sensitivity", 'expected "1"');
  const tiers = record.tiers;
  if (!Array.isArray(tiers) || tiers.length === 0 || tiers.length > MAX_TIERS) {
    throw new VerifierInputError("privacy.tiers", `expected 1 to ${MAX_TIERS} tiers`);
  }
  const parsed = new Map<string, { params: NoiseParams; epsilon: number; delta: number }>();
  tiers.forEach((tier, i) => {
    const at = `privacy.tiers[${i}]`;
    const entry = expectFields(tier, at, ["name", "epsilon", "delta", "coins", "scaleBits"]);
    const name = expectString(entry.name, `${at}.name`);
    if (!TIER_NAME.test(name) || parsed.has(name)) {
      throw new VerifierInputError(`${at}.name`, "expected a unique name of 1 to 32 letters, digits, . _ -");
    }
    const epsilon = asInput(`${at}.epsilon`, () => parsePrivacyNumber(entry.epsilon as string, "epsilon"));
    const delta = asInput(`${at}.delta`, () => parsePrivacyNumber(entry.delta as string, "delta"));
    if (delta >= 1) throw new VerifierInputError(`${at}.delta`, "must be below 1");
    const params = { coins: entry.coins as number, scaleBits: entry.scaleBits as number };
    asInput(`${at}.coins`, () => checkNoiseParams(params, shape));
    parsed.set(name, { params, epsilon, delta });
  });
  return parsed;
}

function parseNoisy(value: unknown, at: string): bigint {
  const text = expectString(value, at);
  if (!/^-?(0|[1-9]\d{0,39})$/.test(text) || text === "-0") {
    throw new VerifierInputError(at, `expected a signed decimal integer, got ${describeValue(text)}`);
  }
  return BigInt(text);
}

/** Every answer's cells: keys in cell order, a known tier; returns params and released values (H x G). */
function parseAnswers(
  value: unknown,
  queries: readonly PassQuery[],
  schema: Schema,
  shape: NoisyPassShape,
  tiers: ParsedDpHistogramBundle["tiers"],
): { params: CellParams; released: bigint[][] } {
  if (!Array.isArray(value) || value.length !== queries.length) {
    throw new VerifierInputError("answers", `expected ${queries.length} answers (one per query)`);
  }
  const G = shape.pass.cells;
  const params: (NoiseParams | null)[][] = [];
  const released: bigint[][] = [];
  value.forEach((answer, q) => {
    const at = `answers[${q}]`;
    const record = expectFields(answer, at, ["kind", "cells"]);
    if (record.kind !== "histogram") throw new VerifierInputError(`${at}.kind`, 'expected "histogram"');
    const keys = cellKeys(queries[q] as PassQuery, schema);
    const cells = record.cells;
    if (!Array.isArray(cells) || cells.length !== keys.length) {
      throw new VerifierInputError(`${at}.cells`, `expected ${keys.length} cells`);
    }
    const rowParams: (NoiseParams | null)[] = new Array(G).fill(null);
    const row: bigint[] = new Array<bigint>(G).fill(0n);
    cells.forEach((cell, g) => {
      const cellAt = `${at}.cells[${g}]`;
      const entry = expectFields(cell, cellAt, ["cell", "tier", "noisy"]);
      if (canonicalJson(entry.cell) !== canonicalJson(keys[g])) {
        throw new VerifierInputError(`${cellAt}.cell`, `expected ${JSON.stringify(keys[g])}`);
      }
      const tier = tiers.get(expectString(entry.tier, `${cellAt}.tier`));
      if (tier === undefined) throw new VerifierInputError(`${cellAt}.tier`, "not a tier of privacy.tiers");
      rowParams[g] = tier.params;
      row[g] = parseNoisy(entry.noisy, `${cellAt}.noisy`) + noiseCentre(tier.params);
      if ((row[g] as bigint) < 0n) {
        throw new VerifierInputError(`${cellAt}.noisy`, "below the support of its tier's noise");
      }
    });
    params.push(rowParams);
    released.push(row);
  });
  return { params, released };
}

function parseChunkEntries(value: unknown, shape: PassShape): [bigint[], ParsedProof][] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_CHAIN_CHUNKS) {
    throw new VerifierInputError("chunks", `expected 1 to ${MAX_CHAIN_CHUNKS} chunk proofs`);
  }
  return value.map((entry, i) => parseEntry(entry, `chunks[${i}]`, passStepSignalCount(shape)));
}

/** Parses a dp-histogram bundle strictly (see the module comment); throws {@link VerifierInputError}. */
export function parseDpHistogramBundle(value: unknown): ParsedDpHistogramBundle {
  const snapshot = frozenJsonCopy(readJsonInput(value, "bundle"));
  const record = expectFields(snapshot, "bundle", FIELDS);
  if (record.format !== DP_CHAIN_BUNDLE_FORMAT)
    throw new VerifierInputError("format", `expected ${JSON.stringify(DP_CHAIN_BUNDLE_FORMAT)}`);
  if (record.kind !== "dp-histogram")
    throw new VerifierInputError("kind", `expected "dp-histogram", got ${describeValue(record.kind)}`);
  const manifest = parseChainManifest(record.manifest);
  const schema = manifest.schema;
  const shape = parseShapes(record);
  const queries = parsePassQueries(record.queries, schema, shape.pass);
  if (queries.length !== shape.pass.histogramSlots) {
    throw new VerifierInputError("queries", `expected H = ${shape.pass.histogramSlots} histogram queries`);
  }
  const tiers = parseTiers(record.privacy, shape);
  const { params, released } = parseAnswers(record.answers, queries, schema, shape, tiers);
  const statements = record.statements;
  if (!Array.isArray(statements) || statements.length !== queries.length) {
    throw new VerifierInputError("statements", `expected ${queries.length} strings (one per query)`);
  }
  statements.forEach((text, q) => {
    expectString(text, `statements[${q}]`);
  });
  const nonce = parseScalar(record.nonce, "nonce");
  parseVkeyHash(record.stepVkeyHash, "stepVkeyHash");
  parseVkeyHash(record.finalVkeyHash, "finalVkeyHash");
  const chunks = parseChunkEntries(record.chunks, shape.pass);
  const finalCount = noisyPassFinalPublicSignalNames(shape).length;
  const [finalSignals, finalProof] = parseEntry(record.final, "final", finalCount);
  parseCreatedAt(record.createdAt);
  const encodedQuery = asInput("queries", () =>
    encodePassPublic(queries, schema, passQueryShape(shape.pass)),
  );
  return {
    bundle: snapshot as DpHistogramBundle,
    schema,
    shape,
    nonce,
    encodedQuery,
    tiers,
    params,
    released,
    chunkSignals: chunks.map(([signals]) => signals),
    chunkProofs: chunks.map(([, proof]) => proof),
    finalSignals,
    finalProof,
    queryHashes: queries.map((query) => passQueryHash(query, schema)),
  };
}

/** One table's sentence: the query, every noisy cell with its tier, and the privacy of each tier used. */
export function describeNoisyHistogram(
  query: PassQuery,
  answer: NoisyHistogramAnswer,
  privacy: HistogramPrivacy,
  schema: Schema,
): string {
  const cells = answer.cells.map((cell) => `${cell.cell.map(String).join("/")} ${cell.noisy} [${cell.tier}]`);
  const used = new Set(answer.cells.map((cell) => cell.tier));
  const tiers = privacy.tiers
    .filter((tier) => used.has(tier.name))
    .map(
      (tier) =>
        `${tier.name}: (${tier.epsilon}, ${tier.delta})-DP, ${tier.coins} coins at scale 2^${tier.scaleBits}`,
    );
  return (
    `noisy ${describePassQuery(query, schema)}: ${cells.join(", ")} ` +
    `(each cell differentially private by its tier, ${privacy.mechanism} noise of sensitivity 1 drawn in the proof ` +
    `from the committed seed; cells are disjoint, so a person is protected at their cell's tier: ${tiers.join("; ")})`
  );
}

export interface DpHistogramVerified {
  readonly valid: true;
  readonly kind: "dp-histogram";
  readonly statements: readonly string[];
  readonly queries: readonly PassQuery[];
  readonly queryHashes: readonly string[];
  readonly answers: readonly NoisyHistogramAnswer[];
  readonly privacy: HistogramPrivacy;
  /** delta recomputed from each tier's params at its epsilon (<= the stated delta). */
  readonly computedDelta: Readonly<Record<string, number>>;
  readonly datasetId: string;
  readonly epoch: number;
  readonly nonce: string;
  readonly chunkCount: number;
  readonly stepCircuitId: string;
  readonly finalCircuitId: string;
  readonly stepVkeyHash: string;
  readonly finalVkeyHash: string;
  readonly manifestHash: string;
  readonly operatorKey: string;
  readonly createdAt: string;
  readonly dedupeKey: string;
  readonly warnings: readonly string[];
}

export interface DpHistogramRejected {
  readonly valid: false;
  readonly kind: "dp-histogram";
  readonly check: RejectionCheck | "chain" | "privacy";
  readonly reason: string;
  readonly at?: number | "final";
}

export type DpHistogramVerifyResult = DpHistogramVerified | DpHistogramRejected;

function rejectHistogram(
  check: DpHistogramRejected["check"],
  reason: string,
  at?: number | "final",
): DpHistogramRejected {
  return { valid: false, kind: "dp-histogram", check, reason, ...(at === undefined ? {} : { at }) };
}

type Keys = { readonly step: PreparedVerifyingKey; readonly final: PreparedVerifyingKey };

function histogramKeys(
  parsed: ParsedDpHistogramBundle,
  options: VerifyOptions,
  warnings: string[],
): Keys | DpHistogramRejected {
  const { bundle, schema, shape } = parsed;
  const { pass } = shape;
  const expected = passCircuitId(
    passShapeFor(schema, bundle.manifest.layout, {
      clauses: pass.chunk.clauses,
      setSize: pass.chunk.setSize,
      queries: pass.queries,
      histogramSlots: pass.histogramSlots,
      cells: pass.cells,
    }),
  );
  const keys = pinnedPassKeys(parsed, expected, options, warnings);
  if (!("step" in keys)) return { ...keys, kind: "dp-histogram" };
  return keys;
}

/** Every tier's delta recomputed from its params at its epsilon (sensitivity 1) within the stated delta. */
function checkTiers(
  parsed: ParsedDpHistogramBundle,
): { readonly computed: Record<string, number> } | DpHistogramRejected {
  const computed: Record<string, number> = {};
  for (const [name, tier] of parsed.tiers) {
    const delta = noiseDelta(tier.params, 1n, tier.epsilon);
    if (!(delta <= tier.delta * (1 + 1e-9))) {
      return rejectHistogram(
        "privacy",
        `tier ${name}: noise of ${tier.params.coins} coins at scale 2^${tier.params.scaleBits} gives delta ${delta.toExponential(3)} at epsilon ${tier.epsilon}, more than the stated ${tier.delta}`,
      );
    }
    computed[name] = delta;
  }
  return { computed };
}

function checkProofs(
  parsed: ParsedDpHistogramBundle,
  keys: Keys,
  rng?: RandomBytes,
): DpHistogramRejected | undefined {
  const { bundle } = parsed;
  if (bundle.manifest.noiseCommitment === undefined) {
    return rejectHistogram("privacy", "the manifest commits to no noise seed (noiseCommitment)");
  }
  const signals = checkNoisyPassChainSignals(
    {
      root: BigInt(bundle.manifest.root),
      recordCount: bundle.manifest.recordCount,
      chunkSize: bundle.manifest.layout.chunkSize,
      chunkCount: bundle.manifest.chunkCount,
      nonce: parsed.nonce,
      query: parsed.encodedQuery,
      seedCommitment: BigInt(bundle.manifest.noiseCommitment),
      params: parsed.params,
      released: parsed.released,
    },
    bundle.chunks.map((entry) => entry.publicSignals),
    bundle.final.publicSignals,
  );
  const failure = passChainProofFailure(parsed, keys, signals, rng);
  return failure === undefined ? undefined : rejectHistogram(failure.check, failure.reason, failure.at);
}

/** Verifies a dp-histogram bundle (object or JSON text); see the module comment. */
export function verifyDpHistogram(
  value: unknown,
  options: VerifyOptions,
  rng?: RandomBytes,
): DpHistogramVerifyResult {
  const parsed = parseDpHistogramBundle(value);
  const { operatorKey, pinned, expectedNonce } = checkOptions(options);
  const { bundle, schema } = parsed;
  if (expectedNonce !== undefined && parsed.nonce !== expectedNonce) {
    return rejectHistogram(
      "nonce",
      `the bundle answers request nonce ${bundle.nonce}, expected ${expectedNonce} (a replay?)`,
    );
  }
  const manifestProblem = checkManifest(bundle.manifest, operatorKey, pinned);
  if (manifestProblem !== undefined) return { ...manifestProblem, kind: "dp-histogram" };
  const warnings: string[] = [];
  const keys = histogramKeys(parsed, options, warnings);
  if (!("step" in keys)) return keys;
  const statements = bundle.queries.map((query, q) =>
    describeNoisyHistogram(query, bundle.answers[q] as NoisyHistogramAnswer, bundle.privacy, schema),
  );
  const bad = statements.findIndex((statement, q) => statement !== bundle.statements[q]);
  if (bad >= 0) {
    return rejectHistogram(
      "statement",
      `statements[${bad}] does not say what is proven: ${JSON.stringify(statements[bad])}`,
    );
  }
  const tiers = checkTiers(parsed);
  if (!("computed" in tiers)) return tiers;
  const problem = checkProofs(parsed, keys, rng);
  if (problem !== undefined) return problem;
  return {
    valid: true,
    kind: "dp-histogram",
    statements,
    queries: bundle.queries,
    queryHashes: parsed.queryHashes,
    answers: bundle.answers,
    privacy: bundle.privacy,
    computedDelta: tiers.computed,
    datasetId: bundle.manifest.datasetId,
    epoch: bundle.manifest.epoch,
    nonce: bundle.nonce,
    chunkCount: bundle.chunks.length,
    stepCircuitId: bundle.stepCircuitId,
    finalCircuitId: bundle.finalCircuitId,
    stepVkeyHash: keys.step.hash,
    finalVkeyHash: keys.final.hash,
    manifestHash: manifestHash(bundle.manifest),
    operatorKey: bundle.manifest.operatorKey,
    createdAt: bundle.createdAt,
    dedupeKey: `${keys.final.hash}:${bundle.final.publicSignals.join(",")}`,
    warnings,
  };
}

/** True when `value` (object or JSON text) is a dp-histogram bundle (v3 format, `kind: "dp-histogram"`). */
export function isDpHistogramBundle(value: unknown): boolean {
  if (!claimsFormat(value, DP_CHAIN_BUNDLE_FORMAT)) return false;
  const json = readJsonInput(value, "bundle");
  return (json as { kind?: unknown }).kind === "dp-histogram";
}
