/**
 * @module verifier/chain-bundle
 *
 * The chain bundle `zktally-bundle/v2` (`kind: "chain"`, docs/bundle.md "Chain bundles"): the answer to one
 * query over a chunked dataset (design.md section 7), proven as one `ChunkStep` proof per chunk plus one
 * `ChunkFinal` proof. It carries the signed version-2 manifest, the canonical query, the answer, the
 * statement in words, the minimum group size, the nonce, both circuit ids with their verification-key
 * hashes, and per chunk its public signals and proof, then the final proof. Nothing else: the chunk
 * signals hold only hiding accumulator commitments, so no per-chunk count, sum or match can be read off.
 *
 * `parseChainBundle` checks structure only (the same rules as `parseBundle` for v1: exact fields, canonical
 * numbers, a canonical query encodable by the chunk circuit, the signal count each circuit fixes, every
 * proof point on its curve and in its subgroup), on a frozen deep copy; bundle text is read strictly
 * (duplicate keys refused). Failures throw {@link VerifierInputError} naming the field (`chunks[2].proof.pi_a[0]`).
 * Whether the chain is *true* is verify-chain.ts's job.
 *
 * Security caveats: a parsed bundle is not a verified one; keys never come from the bundle.
 * Browser-safe: no Node.js imports, no prover or snarkjs code.
 */
import {
  type ChunkShape,
  chunkQueryShape,
  chunkShapeFromId,
  type FinalShape,
  finalCircuitId,
  finalShapeOf,
} from "../circuits/chunk-shape.ts";
import { ManifestError } from "../dataset/errors.ts";
import { type ChunkedManifest, parseAnyManifest } from "../dataset/manifest.ts";
import type { Schema } from "../dataset/schema.ts";
import { queryHash } from "../query/canonical.ts";
import { encodeQueryPublic, type QueryPublicElements } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import {
  type BundleAnswer,
  CHAIN_BUNDLE_FORMAT,
  describeValue,
  expectFields,
  expectString,
  frozenJsonCopy,
  OPTIONAL_BUNDLE_FIELDS,
  parseAnswer,
  parseBundleQuery,
  parseCreatedAt,
  parseDominanceShare,
  parseMinGroupSize,
  parseStatementText,
  parseVkeyHash,
} from "./bundle.ts";
import { VerifierInputError } from "./errors.ts";
import { type ParsedProof, parseProof, parsePublicSignals, parseScalar, type SnarkjsProof } from "./parse.ts";

export { CHAIN_BUNDLE_FORMAT };

/** One proof of a chain with its public signals (snarkjs order, canonical decimal strings). */
export interface ChainProofEntry {
  readonly publicSignals: readonly string[];
  readonly proof: SnarkjsProof;
}

/** A `zktally-bundle/v2` chain bundle (JSON). Field meanings: docs/bundle.md. */
export interface ChainBundle {
  readonly format: typeof CHAIN_BUNDLE_FORMAT;
  readonly kind: "chain";
  readonly manifest: ChunkedManifest;
  readonly query: Query;
  readonly statement: string;
  readonly answer: BundleAnswer;
  readonly minGroupSize: number;
  /** Dominance share (percent 1..100, sums); absent = no dominance rule (docs/bundle.md). */
  readonly dominanceShare?: number;
  readonly nonce: string;
  readonly chunkCircuitId: string;
  readonly chunkVkeyHash: string;
  readonly finalCircuitId: string;
  readonly finalVkeyHash: string;
  /** Chunk proofs in chunk order (chunk i proves chunkIndex i). */
  readonly chunks: readonly ChainProofEntry[];
  readonly final: ChainProofEntry;
  readonly createdAt: string;
}

/** A structurally valid chain bundle with its derived values (not yet verified). */
export interface ParsedChainBundle {
  readonly bundle: ChainBundle;
  readonly shape: ChunkShape;
  readonly finalShape: FinalShape;
  readonly schema: Schema;
  readonly nonce: bigint;
  /** The query's public elements for the chunk circuit (what every proof must carry). */
  readonly encodedQuery: QueryPublicElements;
  readonly chunkSignals: readonly (readonly bigint[])[];
  readonly chunkProofs: readonly ParsedProof[];
  readonly finalSignals: readonly bigint[];
  readonly finalProof: ParsedProof;
  readonly queryHash: string;
}

const CHAIN_FIELDS = [
  "format",
  "kind",
  "manifest",
  "query",
  "statement",
  "answer",
  "minGroupSize",
  "nonce",
  "chunkCircuitId",
  "chunkVkeyHash",
  "finalCircuitId",
  "finalVkeyHash",
  "chunks",
  "final",
  "createdAt",
] as const;
const ENTRY_FIELDS = ["publicSignals", "proof"] as const;
/** 2^20 records at the smallest sensible chunk size; caps the work a hostile bundle can ask for. */
export const MAX_CHAIN_CHUNKS = 65_536;
/** ChunkStep signals besides the clauses: accOut, root, chunkIndex, nonce, aggregate, accIn. */
const CHUNK_FIXED_SIGNALS = 6;
/** ChunkFinal signals besides the clauses: suppressed, answer, root, recordCount, g, nonce, aggregate, accIn. */
const FINAL_FIXED_SIGNALS = 8;

export function parseChainManifest(value: unknown): ChunkedManifest {
  let manifest: ReturnType<typeof parseAnyManifest>;
  try {
    manifest = parseAnyManifest(value);
  } catch (error) {
    if (error instanceof ManifestError) {
      throw new VerifierInputError(error.path === "$" ? "manifest" : `manifest.${error.path}`, error.reason);
    }
    throw error;
  }
  if (manifest.version !== 2) {
    throw new VerifierInputError("manifest.version", "a chain bundle carries a version-2 (chunked) manifest");
  }
  return manifest;
}

export function parseChunkCircuit(value: unknown): ChunkShape {
  const id = expectString(value, "chunkCircuitId");
  try {
    return chunkShapeFromId(id);
  } catch (error) {
    if (error instanceof RangeError) throw new VerifierInputError("chunkCircuitId", error.message);
    throw error;
  }
}

function parseFinalCircuit(value: unknown, shape: ChunkShape): FinalShape {
  const finalShape = finalShapeOf(shape);
  const expected = finalCircuitId(finalShape);
  if (value !== expected) {
    throw new VerifierInputError(
      "finalCircuitId",
      `expected ${JSON.stringify(expected)} (the final step of chunkCircuitId), got ${describeValue(value)}`,
    );
  }
  return finalShape;
}

export function parseEntry(value: unknown, path: string, signalCount: number): [bigint[], ParsedProof] {
  const record = expectFields(value, path, ENTRY_FIELDS);
  const signals = parsePublicSignals(record.publicSignals, signalCount, `${path}.publicSignals`);
  return [signals, parseProof(record.proof, `${path}.proof`)];
}

export function parseChunks(value: unknown, clauses: number): [bigint[][], ParsedProof[]] {
  if (!Array.isArray(value)) {
    throw new VerifierInputError("chunks", `expected an array, got ${describeValue(value)}`);
  }
  if (value.length === 0 || value.length > MAX_CHAIN_CHUNKS) {
    throw new VerifierInputError(
      "chunks",
      `expected 1 to ${MAX_CHAIN_CHUNKS} chunk proofs, got ${value.length}`,
    );
  }
  const signals: bigint[][] = [];
  const proofs: ParsedProof[] = [];
  value.forEach((entry, index) => {
    const [entrySignals, proof] = parseEntry(entry, `chunks[${index}]`, CHUNK_FIXED_SIGNALS + clauses);
    signals.push(entrySignals);
    proofs.push(proof);
  });
  return [signals, proofs];
}

/**
 * Parses a `zktally-bundle/v2` chain bundle strictly (see the module comment). Throws
 * {@link VerifierInputError} naming the first offending field; the input is not modified.
 */
export function parseChainBundle(value: unknown): ParsedChainBundle {
  const snapshot = frozenJsonCopy(value);
  const record = expectFields(snapshot, "bundle", CHAIN_FIELDS, OPTIONAL_BUNDLE_FIELDS);
  if (record.format !== CHAIN_BUNDLE_FORMAT) {
    throw new VerifierInputError(
      "format",
      `expected ${JSON.stringify(CHAIN_BUNDLE_FORMAT)} for a chain bundle, got ${describeValue(record.format)}`,
    );
  }
  if (record.kind !== "chain") {
    throw new VerifierInputError("kind", `expected "chain", got ${describeValue(record.kind)}`);
  }
  const manifest = parseChainManifest(record.manifest);
  const shape = parseChunkCircuit(record.chunkCircuitId);
  const finalShape = parseFinalCircuit(record.finalCircuitId, shape);
  const queryShape = chunkQueryShape(shape);
  const query = parseBundleQuery(record.query, manifest.schema, queryShape);
  parseAnswer(record.answer, query.aggregate.kind);
  parseStatementText(record.statement);
  parseMinGroupSize(record.minGroupSize, query.aggregate.kind);
  parseDominanceShare(record.dominanceShare);
  const nonce = parseScalar(record.nonce, "nonce");
  parseVkeyHash(record.chunkVkeyHash, "chunkVkeyHash");
  parseVkeyHash(record.finalVkeyHash, "finalVkeyHash");
  const [chunkSignals, chunkProofs] = parseChunks(record.chunks, shape.clauses);
  const [finalSignals, finalProof] = parseEntry(record.final, "final", FINAL_FIXED_SIGNALS + shape.clauses);
  parseCreatedAt(record.createdAt);
  return {
    bundle: snapshot as ChainBundle,
    shape,
    finalShape,
    schema: manifest.schema,
    nonce,
    encodedQuery: encodeQueryPublic(query, manifest.schema, queryShape),
    chunkSignals,
    chunkProofs,
    finalSignals,
    finalProof,
    queryHash: queryHash(query, manifest.schema),
  };
}
