/**
 * @module verifier/bundle
 *
 * The proof bundle `zktally-bundle/v1` (docs/bundle.md): the self-describing JSON a partner receives
 * with an answer, and its strict parser. A bundle carries the operator's full signed dataset manifest,
 * the canonical readable query, the answer, the statement in words, the circuit id and verification-key
 * hash, the minimum group size, the partner's nonce, the public signals and the snarkjs proof.
 *
 * `parseBundle` checks structure only: every field present and of the right form, nothing extra, numbers
 * canonical and in range, the query valid for the manifest's schema, in canonical form and encodable by
 * the named circuit, the signal count that circuit fixes, and every proof point on its curve, in its
 * subgroup and not at infinity. It works on a frozen deep copy made through JSON, so getters or later
 * mutation of the caller's object cannot change what was checked. Given bundle *text* (a string), it
 * reads it with the strict JSON reader, which refuses duplicate keys (two `answer` members would make
 * one file say two things). Any failure throws {@link VerifierInputError} naming the field
 * (`answer.value`, `manifest.layout.width`, `proof.pi_b[0][1]`, ...). Whether the bundle is *true*
 * (signature, pinned key, recomputed signals, pairing) is `verify-bundle.ts`'s job.
 *
 * Security caveats: a parsed bundle is not a verified one. The bundle never carries a verification key:
 * keys come from the verifier's own pinned set (an extra `vkey` field is refused like any other).
 * Browser-safe: no Node.js imports, no prover or snarkjs code.
 */

import { type AggregateShape, shapeFromId } from "../circuits/shape.ts";
import { HEX32 } from "../core/formats.ts";
import { ManifestError } from "../dataset/errors.ts";
import { type DatasetManifest, parseManifest } from "../dataset/manifest.ts";
import type { Schema } from "../dataset/schema.ts";
import { canonicalQuery, queryHash } from "../query/canonical.ts";
import { QueryError } from "../query/errors.ts";
import {
  assertMembershipGroupSize,
  type CircuitShape,
  DOMINANCE_SHARE_MAX,
  encodeQueryPublic,
} from "../query/lower.ts";
import type { AggregateKind, Query } from "../query/model.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { InputError } from "../util/errors.ts";
import { JsonTextError, parseStrictJson } from "../util/strict-json.ts";
import { VerifierInputError } from "./errors.ts";
import { type ParsedProof, parseProof, parseScalar, type SnarkjsProof } from "./parse.ts";

/** The format tag of this version of the bundle. */
export const BUNDLE_FORMAT = "zktally-bundle/v1";

/** The format tag of chain bundles (chain-bundle.ts; docs/bundle.md "Chain bundles"). */
export const CHAIN_BUNDLE_FORMAT = "zktally-bundle/v2";

/** Public signals before the clause elements: suppressed, answer, root, recordCount, g, nonce, aggregate. */
export const FIXED_SIGNAL_COUNT = 7;

/** The answer in readable form: a decimal string for count/sum, a boolean for threshold/membership. */
export type BundleAnswer =
  | { readonly kind: "count" | "sum"; readonly suppressed: false; readonly value: string }
  | { readonly kind: "threshold" | "membership"; readonly suppressed: false; readonly value: boolean }
  | { readonly kind: AggregateKind; readonly suppressed: true; readonly value: null };

/** A `zktally-bundle/v1` proof bundle (JSON). Field meanings: docs/bundle.md. */
export interface ProofBundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly manifest: DatasetManifest;
  readonly query: Query;
  readonly statement: string;
  readonly answer: BundleAnswer;
  readonly circuitId: string;
  readonly vkeyHash: string;
  readonly minGroupSize: number;
  /** Dominance share (percent 1..100, sums); absent = no dominance rule (docs/bundle.md). */
  readonly dominanceShare?: number;
  readonly nonce: string;
  readonly publicSignals: readonly string[];
  readonly proof: SnarkjsProof;
  readonly createdAt: string;
}

/** A structurally valid bundle with its derived values (not yet verified). */
export interface ParsedBundle {
  /** The input, now known to have the `ProofBundle` shape. */
  readonly bundle: ProofBundle;
  readonly shape: AggregateShape;
  readonly schema: Schema;
  readonly nonce: bigint;
  readonly signals: readonly bigint[];
  readonly proof: ParsedProof;
  /** Hex SHA-256 of the canonical JSON of the canonical query (display and dedupe only). */
  readonly queryHash: string;
}

const BUNDLE_FIELDS = [
  "format",
  "manifest",
  "query",
  "statement",
  "answer",
  "circuitId",
  "vkeyHash",
  "minGroupSize",
  "nonce",
  "publicSignals",
  "proof",
  "createdAt",
] as const;
const ANSWER_FIELDS = ["kind", "suppressed", "value"] as const;

/** Statements are one sentence; a cap keeps hostile bundles from carrying megabytes of "words". */
export const MAX_STATEMENT_LENGTH = 4096;
const MAX_GROUP_SIZE = 2 ** 32 - 1; // minGroupSize is a 32-bit public signal
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** @internal shared with chain-bundle.ts. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? `the string ${JSON.stringify(value.slice(0, 24))}` : `a ${typeof value}`;
}

/** A plain JSON object with exactly `fields` (missing and unexpected fields are named). */
/** @internal shared with chain-bundle.ts. */
export function expectFields(
  value: unknown,
  path: string,
  fields: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new VerifierInputError(path, `expected an object, got ${describeValue(value)}`);
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new VerifierInputError(path, "expected a plain JSON object");
  }
  const record = value as Record<string, unknown>;
  const at = (key: string) => (path === "bundle" ? key : `${path}.${key}`);
  for (const key of fields) {
    if (!Object.hasOwn(record, key)) throw new VerifierInputError(at(key), "missing field");
  }
  for (const key of Object.keys(record)) {
    if (!fields.includes(key) && !optional.includes(key)) {
      throw new VerifierInputError(at(key), "unexpected field");
    }
  }
  return record;
}

/** @internal shared with chain-bundle.ts. */
export function expectString(value: unknown, field: string): string {
  if (typeof value !== "string") {
    throw new VerifierInputError(field, `expected a string, got ${describeValue(value)}`);
  }
  return value;
}

function parseFormat(value: unknown): void {
  if (value === CHAIN_BUNDLE_FORMAT) {
    throw new VerifierInputError(
      "format",
      `${JSON.stringify(CHAIN_BUNDLE_FORMAT)} is a chain bundle: verify it with verifyChain or verifyAny`,
    );
  }
  if (value !== BUNDLE_FORMAT) {
    throw new VerifierInputError(
      "format",
      `unsupported bundle format ${describeValue(value)}; this verifier reads ${JSON.stringify(BUNDLE_FORMAT)}`,
    );
  }
}

function parseCircuitId(value: unknown): AggregateShape {
  const id = expectString(value, "circuitId");
  try {
    return shapeFromId(id);
  } catch (error) {
    if (error instanceof InputError) throw new VerifierInputError("circuitId", error.message);
    throw error;
  }
}

function parseBundleManifest(value: unknown): DatasetManifest {
  try {
    return parseManifest(value);
  } catch (error) {
    if (error instanceof ManifestError) {
      throw new VerifierInputError(error.path === "$" ? "manifest" : `manifest.${error.path}`, error.reason);
    }
    throw error;
  }
}

/** Valid for the schema, in canonical form, and encodable by the circuit's clause slots. */
/** @internal shared with chain-bundle.ts. */
export function parseBundleQuery(value: unknown, schema: Schema, shape: CircuitShape): Query {
  let canonical: Query;
  try {
    canonical = canonicalQuery(value, schema);
    encodeQueryPublic(canonical, schema, shape);
  } catch (error) {
    if (error instanceof QueryError) {
      throw new VerifierInputError(error.path === "" ? "query" : `query.${error.path}`, error.reason);
    }
    if (error instanceof InputError) throw new VerifierInputError("query", error.message);
    throw error;
  }
  if (canonicalJson(value) !== canonicalJson(canonical)) {
    throw new VerifierInputError("query", `not in canonical form; expected ${canonicalJson(canonical)}`);
  }
  return value as Query;
}

/** @internal shared with chain-bundle.ts. */
export function parseAnswer(value: unknown, kind: AggregateKind): BundleAnswer {
  const record = expectFields(value, "answer", ANSWER_FIELDS);
  if (record.kind !== kind) {
    throw new VerifierInputError(
      "answer.kind",
      `expected ${JSON.stringify(kind)} (query.aggregate.kind), got ${describeValue(record.kind)}`,
    );
  }
  if (typeof record.suppressed !== "boolean") {
    throw new VerifierInputError(
      "answer.suppressed",
      `expected a boolean, got ${describeValue(record.suppressed)}`,
    );
  }
  if (record.suppressed) {
    if (record.value !== null) {
      throw new VerifierInputError(
        "answer.value",
        `must be null when suppressed, got ${describeValue(record.value)}`,
      );
    }
  } else if (kind === "count" || kind === "sum") {
    parseScalar(record.value, "answer.value");
  } else if (typeof record.value !== "boolean") {
    throw new VerifierInputError(
      "answer.value",
      `expected a boolean for ${kind}, got ${describeValue(record.value)}`,
    );
  }
  return value as BundleAnswer;
}

/** @internal shared with chain-bundle.ts. */
export function parseStatementText(value: unknown): string {
  const text = expectString(value, "statement");
  if (text.length === 0 || text.length > MAX_STATEMENT_LENGTH) {
    throw new VerifierInputError("statement", `must be 1 to ${MAX_STATEMENT_LENGTH} characters`);
  }
  return text;
}

/** @internal shared with chain-bundle.ts. */
export function parseVkeyHash(value: unknown, field = "vkeyHash"): string {
  const hash = expectString(value, field);
  if (!HEX32.test(hash)) throw new VerifierInputError(field, "expected 64 lowercase hex characters");
  return hash;
}

/** The group size; for membership 0 or >= 2 (under g = 1 "suppressed" would mean "no": query/lower.ts). */
export function parseMinGroupSize(value: unknown, kind: AggregateKind): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > MAX_GROUP_SIZE) {
    throw new VerifierInputError(
      "minGroupSize",
      `expected an integer 0..2^32-1, got ${describeValue(value)}`,
    );
  }
  try {
    assertMembershipGroupSize(kind, value);
  } catch (error) {
    if (error instanceof QueryError) throw new VerifierInputError("minGroupSize", error.reason);
    throw error;
  }
  return value;
}

/** Optional bundle fields (absent means their default). @internal shared with chain-bundle.ts. */
export const OPTIONAL_BUNDLE_FIELDS = ["dominanceShare"] as const;

/**
 * The dominance share when present: an integer percentage 1..100 (the rule off is the field's absence, so
 * each statement has one encoding). @internal shared with chain-bundle.ts.
 */
export function parseDominanceShare(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > DOMINANCE_SHARE_MAX) {
    throw new VerifierInputError(
      "dominanceShare",
      `expected an integer percentage 1..${DOMINANCE_SHARE_MAX} (omit the field for no dominance rule), got ${describeValue(value)}`,
    );
  }
  return value;
}

function parseSignals(value: unknown, shape: AggregateShape, circuitId: string): bigint[] {
  const expected = FIXED_SIGNAL_COUNT + shape.clauses;
  if (!Array.isArray(value)) {
    throw new VerifierInputError("publicSignals", `expected an array, got ${describeValue(value)}`);
  }
  if (value.length !== expected) {
    throw new VerifierInputError(
      "publicSignals",
      `circuit ${circuitId} has ${expected} public signals, got ${value.length}`,
    );
  }
  return value.map((signal, index) => parseScalar(signal, `publicSignals[${index}]`));
}

/** @internal shared with chain-bundle.ts. */
export function parseCreatedAt(value: unknown): string {
  const text = expectString(value, "createdAt");
  if (!ISO_DATETIME.test(text) || Number.isNaN(Date.parse(text))) {
    throw new VerifierInputError(
      "createdAt",
      "expected an ISO-8601 date-time with offset, e.g. 2025-01-31T12:00:00Z",
    );
  }
  return text;
}

/** True when `value` (object or JSON text) is a JSON object whose `format` is `format`. */
export function claimsFormat(value: unknown, format: string): boolean {
  const json = readJsonInput(value, "bundle");
  return (
    typeof json === "object" &&
    json !== null &&
    !Array.isArray(json) &&
    (json as { format?: unknown }).format === format
  );
}

/**
 * `value` itself, or, when it is a string, the JSON it holds, read strictly (util/strict-json.ts: a
 * duplicate key is refused, never resolved to its last value). A syntax error or duplicate throws
 * {@link VerifierInputError} at `field` (and the JSON path inside it) with the line and column.
 */
export function readJsonInput(value: unknown, field: string): unknown {
  if (typeof value !== "string") return value;
  try {
    return parseStrictJson(value);
  } catch (error) {
    if (!(error instanceof JsonTextError)) throw error;
    const inner = error.path.slice(1);
    const at = field === "bundle" && inner !== "" ? inner.replace(/^\./, "") : `${field}${inner}`;
    throw new VerifierInputError(at, `not strict JSON: ${error.message}`);
  }
}

/**
 * A deep, frozen copy through JSON: what is checked is exactly what is returned, even if the caller
 * passed objects with getters or mutates its own value afterwards. A string is bundle text, read strictly.
 */
/** @internal shared with chain-bundle.ts. */
export function frozenJsonCopy(value: unknown): unknown {
  if (typeof value === "string") return deepFreeze(readJsonInput(value, "bundle"));
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new VerifierInputError("bundle", `not representable as JSON: ${reason}`);
  }
  if (text === undefined)
    throw new VerifierInputError("bundle", `expected an object, got ${describeValue(value)}`);
  return deepFreeze(JSON.parse(text));
}

function deepFreeze(value: unknown): unknown {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses a `zktally-bundle/v1` bundle strictly (see the module comment). Throws
 * {@link VerifierInputError} naming the first offending field; the input is not modified.
 */
export function parseBundle(value: unknown): ParsedBundle {
  const snapshot = frozenJsonCopy(value);
  if (typeof snapshot === "object" && snapshot !== null && !Array.isArray(snapshot) && "format" in snapshot) {
    parseFormat(snapshot.format); // a newer format is named as such, not as a list of unexpected fields
  }
  const record = expectFields(snapshot, "bundle", BUNDLE_FIELDS, OPTIONAL_BUNDLE_FIELDS);
  parseFormat(record.format);
  const shape = parseCircuitId(record.circuitId);
  const manifest = parseBundleManifest(record.manifest);
  const query = parseBundleQuery(record.query, manifest.schema, shape);
  parseAnswer(record.answer, query.aggregate.kind);
  parseStatementText(record.statement);
  parseVkeyHash(record.vkeyHash);
  parseMinGroupSize(record.minGroupSize, query.aggregate.kind);
  parseDominanceShare(record.dominanceShare);
  const nonce = parseScalar(record.nonce, "nonce");
  const signals = parseSignals(record.publicSignals, shape, record.circuitId as string);
  const proof = parseProof(record.proof, "proof");
  parseCreatedAt(record.createdAt);
  return {
    bundle: snapshot as ProofBundle,
    shape,
    schema: manifest.schema,
    nonce,
    signals,
    proof,
    queryHash: queryHash(query, manifest.schema),
  };
}
