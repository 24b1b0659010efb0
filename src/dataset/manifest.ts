/**
 * @module dataset/manifest
 *
 * The signed dataset manifest (design.md section 5): what the operator publishes about a committed dataset
 * (id, epoch, schema, record count, layout, Merkle root, circuits), signed with the operator's Ed25519 key
 * over the canonical JSON (section 6) of the manifest without `signature`. Version 1 describes a single-
 * circuit commitment (`CommitmentLayout`); version 2 a chunked one (design.md section 7: `ChunkLayout` and
 * `chunkCount`). `parseManifest` accepts version 1 only (what single-proof code expects), `parseAnyManifest`
 * both; signing, verification and hashing take either. Parsing and verification only (browser-safe, in the
 * verifier SDK's closure); signing with the operator's secret key is in `manifest-sign.ts`.
 *
 * Security caveats: `verifyManifest` without `expectedOperatorKey` only proves self-consistency (anyone can
 * sign a manifest with their own key); partners must pin the operator key. Structure is validated in full
 * (strict, no extra fields) before any signature check, and the signed bytes are recomputed from the
 * validated value, so what is verified is exactly what is returned. Signatures are checked in strict
 * RFC 8032 mode (no ZIP-215 leniency) so each manifest has one valid encoding per key.
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { z } from "zod";
import { FIELD_ORDER } from "../core/field.ts";
import { canonicalDecimalSchema, DATASET_ID_PATTERN, HEX32_ANY_CASE, hexSchema } from "../core/formats.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { canonicalJsonSha256 } from "../util/digest.ts";
import { InputError } from "../util/errors.ts";
import { type ChunkLayout, chunkCountOf, fieldDomains, makeChunkLayout } from "./chunk-layout.ts";
import { formatJsonPath, ManifestError, SchemaError } from "./errors.ts";
import { type CommitmentLayout, makeLayout } from "./layout.ts";
import { maxFieldWidth, parseSchema, type Schema, schemaHash } from "./schema.ts";

/** BN254 scalar field modulus r (design.md preamble). */
const CIRCUIT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface UnsignedManifest {
  readonly version: 1;
  readonly datasetId: string;
  readonly epoch: number;
  readonly schema: Schema;
  readonly schemaHash: string;
  readonly recordCount: number;
  readonly capacity: number;
  readonly layout: CommitmentLayout;
  /** Merkle root as a canonical decimal string below r. */
  readonly root: string;
  readonly createdAt: string;
  readonly circuits: readonly string[];
  /** `manifestHash` of the dataset's previous epoch (absent on its first epoch; design.md section 5). */
  readonly previousManifestHash?: string;
}

export interface DatasetManifest extends UnsignedManifest {
  /** Hex Ed25519 public key (32 bytes, lowercase). */
  readonly operatorKey: string;
  /** Hex Ed25519 signature (64 bytes, lowercase) over the canonical JSON of the manifest without it. */
  readonly signature: string;
}

/** Version 2 (chunked, design.md section 7): the layout is `ChunkLayout`, `chunkCount` is stated. */
export interface UnsignedChunkedManifest {
  readonly version: 2;
  readonly datasetId: string;
  readonly epoch: number;
  readonly schema: Schema;
  readonly schemaHash: string;
  readonly recordCount: number;
  /** max(1, ceil(recordCount / layout.chunkSize)). */
  readonly chunkCount: number;
  readonly layout: ChunkLayout;
  /** Dataset-tree root as a canonical decimal string below r. */
  readonly root: string;
  readonly createdAt: string;
  readonly circuits: readonly string[];
  readonly previousManifestHash?: string;
  /**
   * Commitment to the operator's secret noise seed (design.md 8.1), a canonical decimal below r; present when
   * the dataset answers differentially private queries.
   */
  readonly noiseCommitment?: string;
}

export interface ChunkedManifest extends UnsignedChunkedManifest {
  readonly operatorKey: string;
  readonly signature: string;
}

export type AnyUnsignedManifest = UnsignedManifest | UnsignedChunkedManifest;
/** A manifest of either version (discriminated by `version`). */
export type AnyManifest = DatasetManifest | ChunkedManifest;

/** What a manifest is built from, for either version (`Layout`: the version's commitment layout). */
export interface ManifestInputOf<Layout> {
  readonly datasetId: string;
  readonly epoch: number;
  readonly schema: Schema;
  readonly recordCount: number;
  readonly layout: Layout;
  readonly root: bigint | string;
  readonly circuits: readonly string[];
  /** Defaults to now. */
  readonly createdAt?: Date | string;
  /** `manifestHash` of the previous epoch's manifest (omitted for a dataset's first epoch). */
  readonly previousManifestHash?: string;
}

export type BuildManifestInput = ManifestInputOf<CommitmentLayout>;

const layoutShape = z.strictObject({
  capacity: z.int(),
  fields: z.int(),
  width: z.int(),
  leafRecords: z.int(),
  arity: z.int(),
});

const unsignedShape = z.strictObject({
  version: z.literal(1),
  datasetId: z.string().regex(DATASET_ID_PATTERN, `must match ${DATASET_ID_PATTERN}`),
  epoch: z.int().nonnegative(),
  schema: z.unknown(),
  schemaHash: hexSchema(32),
  recordCount: z.int().nonnegative(),
  capacity: z.int().positive(),
  layout: layoutShape,
  root: canonicalDecimalSchema,
  createdAt: z.iso.datetime({ offset: true }),
  circuits: z.array(z.string().regex(CIRCUIT_ID_PATTERN, `must match ${CIRCUIT_ID_PATTERN}`)),
  previousManifestHash: hexSchema(32).optional(),
});

/** The shape of a signed manifest (no semantic checks; `parseManifest` adds them). */
export const signedManifestShape = unsignedShape.extend({
  operatorKey: hexSchema(32),
  signature: hexSchema(64),
});

const unsignedShapeV2 = z.strictObject({
  version: z.literal(2),
  datasetId: unsignedShape.shape.datasetId,
  epoch: unsignedShape.shape.epoch,
  schema: z.unknown(),
  schemaHash: hexSchema(32),
  recordCount: z.int().nonnegative(),
  chunkCount: z.int().positive(),
  layout: z.strictObject({
    version: z.literal(2),
    chunkSize: z.int(),
    leafRecords: z.int(),
    treeDepth: z.int(),
  }),
  root: unsignedShape.shape.root,
  createdAt: unsignedShape.shape.createdAt,
  circuits: unsignedShape.shape.circuits,
  previousManifestHash: unsignedShape.shape.previousManifestHash,
  noiseCommitment: canonicalDecimalSchema.optional(),
});

/** The shape of a signed version-2 (chunked) manifest (no semantic checks; `parseAnyManifest` adds them). */
export const signedChunkedManifestShape = unsignedShapeV2.extend({
  operatorKey: hexSchema(32),
  signature: hexSchema(64),
});

/** Validates an unsigned manifest; throws `ManifestError` with the path of the first problem. */
export function parseUnsignedManifest(json: unknown): UnsignedManifest {
  return checkSemantics(validateShape(unsignedShape, json)) as UnsignedManifest;
}

/** Validates a signed manifest's structure (not its signature); throws `ManifestError`. */
export function parseManifest(json: unknown): DatasetManifest {
  return checkSemantics(validateShape(signedManifestShape, json)) as DatasetManifest;
}

/** Validates a signed manifest of version 1 or 2 (not its signature); throws `ManifestError`. */
export function parseAnyManifest(json: unknown): AnyManifest {
  if (isVersion2(json))
    return checkSemanticsV2(validateShape(signedChunkedManifestShape, json)) as ChunkedManifest;
  return parseManifest(json);
}

/** Validates an unsigned manifest of version 1 or 2; throws `ManifestError`. */
export function parseAnyUnsignedManifest(json: unknown): AnyUnsignedManifest {
  if (isVersion2(json))
    return checkSemanticsV2(validateShape(unsignedShapeV2, json)) as UnsignedChunkedManifest;
  return parseUnsignedManifest(json);
}

function isVersion2(json: unknown): boolean {
  return typeof json === "object" && json !== null && (json as { version?: unknown }).version === 2;
}

export type BuildChunkedManifestInput = ManifestInputOf<ChunkLayout> & {
  /** The noise-seed commitment (design.md 8.1), for datasets that answer with differential privacy. */
  readonly noiseCommitment?: bigint | string;
};

/** Assembles and validates an unsigned version-2 manifest (schemaHash and chunkCount derived). */
export function buildChunkedManifest(input: BuildChunkedManifestInput): UnsignedChunkedManifest {
  const layout = { ...input.layout, version: 2 as const };
  return parseAnyUnsignedManifest({
    version: 2,
    ...datasetFields(input),
    chunkCount: chunkCountOf(layout, input.recordCount),
    layout: {
      version: 2,
      chunkSize: layout.chunkSize,
      leafRecords: layout.leafRecords,
      treeDepth: layout.treeDepth,
    },
    ...statementFields(input),
    ...(input.noiseCommitment === undefined ? {} : { noiseCommitment: String(input.noiseCommitment) }),
  }) as UnsignedChunkedManifest;
}

/** The leading manifest fields both versions share (schemaHash derived). */
function datasetFields<Layout>(input: ManifestInputOf<Layout>) {
  return {
    datasetId: input.datasetId,
    epoch: input.epoch,
    schema: input.schema,
    schemaHash: schemaHash(parseSchemaAt(input.schema)),
    recordCount: input.recordCount,
  };
}

/** The trailing manifest fields both versions share (root canonicalised, createdAt defaulting to now). */
function statementFields<Layout>(input: ManifestInputOf<Layout>) {
  const createdAt = input.createdAt ?? new Date();
  return {
    root: typeof input.root === "bigint" ? input.root.toString(10) : input.root,
    createdAt: createdAt instanceof Date ? createdAt.toISOString() : createdAt,
    circuits: [...input.circuits],
    ...(input.previousManifestHash === undefined ? {} : { previousManifestHash: input.previousManifestHash }),
  };
}

/** Assembles and validates an unsigned manifest (schemaHash and capacity derived, root canonicalised). */
export function buildManifest(input: BuildManifestInput): UnsignedManifest {
  return parseUnsignedManifest({
    version: 1,
    ...datasetFields(input),
    capacity: input.layout.capacity,
    // Only the five layout parameters: callers may pass a wider shape (e.g. a circuit shape).
    layout: {
      capacity: input.layout.capacity,
      fields: input.layout.fields,
      width: input.layout.width,
      leafRecords: input.layout.leafRecords,
      arity: input.layout.arity,
    },
    ...statementFields(input),
  });
}

/**
 * True when the signature is valid (and the operator key equals `expectedOperatorKey`, if given); false
 * for a bad signature or a key mismatch. Throws `ManifestError` when the structure is malformed and
 * `TypeError` when `expectedOperatorKey` is not 64 hex characters.
 */
export function verifyManifest(manifest: unknown, expectedOperatorKey?: string): boolean {
  const parsed = parseAnyManifest(manifest);
  if (expectedOperatorKey !== undefined) {
    if (typeof expectedOperatorKey !== "string" || !HEX32_ANY_CASE.test(expectedOperatorKey)) {
      throw new TypeError("expectedOperatorKey must be 32 bytes of hex");
    }
    if (expectedOperatorKey.toLowerCase() !== parsed.operatorKey) return false;
  }
  const { signature, ...body } = parsed;
  try {
    return ed25519.verify(hexToBytes(signature), manifestSigningBytes(body), hexToBytes(parsed.operatorKey), {
      zip215: false,
    });
  } catch {
    // Malformed points or scalars inside well-formed hex are a failed verification, not a crash.
    return false;
  }
}

/** Hex SHA-256 of the canonical JSON of the whole manifest, signature included; validates first. */
export function manifestHash(manifest: AnyManifest): string {
  return canonicalJsonSha256(parseAnyManifest(manifest));
}

/** The bytes the operator signs: the canonical JSON of the manifest without `signature`. */
export function manifestSigningBytes(body: Omit<AnyManifest, "signature">): Uint8Array {
  return utf8ToBytes(canonicalJson(body));
}

function validateShape<T extends z.ZodType>(shape: T, json: unknown): z.infer<T> {
  const result = shape.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ManifestError(formatJsonPath(issue?.path ?? []), issue?.message ?? "invalid manifest");
  }
  return result.data;
}

/** Cross-field rules zod shapes cannot express: schema, hash, layout fit, counts, root range. */
function checkSemantics<T extends z.infer<typeof unsignedShape>>(manifest: T): T & { schema: Schema } {
  const schema = parseSchemaAt(manifest.schema);
  if (schemaHash(schema) !== manifest.schemaHash)
    throw new ManifestError("schemaHash", "does not match schema");
  const layout = layoutAt(manifest.layout);
  if (manifest.capacity !== layout.capacity)
    throw new ManifestError("capacity", "does not match layout.capacity");
  if (manifest.recordCount > manifest.capacity) {
    throw new ManifestError("recordCount", `${manifest.recordCount} exceeds capacity ${manifest.capacity}`);
  }
  if (schema.fields.length > layout.fields) {
    throw new ManifestError(
      "layout.fields",
      `schema has ${schema.fields.length} fields, layout only ${layout.fields}`,
    );
  }
  if (maxFieldWidth(schema) > layout.width) {
    throw new ManifestError(
      "layout.width",
      `schema needs ${maxFieldWidth(schema)} bits, layout has ${layout.width}`,
    );
  }
  if (BigInt(manifest.root) >= FIELD_ORDER)
    throw new ManifestError("root", "is not below the BN254 field modulus");
  if (new Set(manifest.circuits).size !== manifest.circuits.length) {
    throw new ManifestError("circuits", "contains duplicates");
  }
  return { ...manifest, schema, layout, circuits: [...manifest.circuits] };
}

/** Version-2 rules: schema and hash, the chunk layout against the schema's domains, chunkCount, root. */
function checkSemanticsV2<T extends z.infer<typeof unsignedShapeV2>>(manifest: T): T & { schema: Schema } {
  const schema = parseSchemaAt(manifest.schema);
  if (schemaHash(schema) !== manifest.schemaHash)
    throw new ManifestError("schemaHash", "does not match schema");
  let layout: ChunkLayout;
  try {
    layout = makeChunkLayout(manifest.layout, fieldDomains(schema));
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError || error instanceof InputError)
      throw new ManifestError("layout", error.message);
    throw error;
  }
  let chunkCount: number;
  try {
    chunkCount = chunkCountOf(layout, manifest.recordCount);
  } catch (error) {
    if (error instanceof RangeError || error instanceof InputError)
      throw new ManifestError("recordCount", error.message);
    throw error;
  }
  if (manifest.chunkCount !== chunkCount) {
    throw new ManifestError(
      "chunkCount",
      `must be max(1, ceil(recordCount / chunkSize)) = ${chunkCount} (got ${manifest.chunkCount})`,
    );
  }
  if (BigInt(manifest.root) >= FIELD_ORDER)
    throw new ManifestError("root", "is not below the BN254 field modulus");
  if (new Set(manifest.circuits).size !== manifest.circuits.length) {
    throw new ManifestError("circuits", "contains duplicates");
  }
  if (manifest.noiseCommitment !== undefined && BigInt(manifest.noiseCommitment) >= FIELD_ORDER)
    throw new ManifestError("noiseCommitment", "is not below the BN254 field modulus");
  return { ...manifest, schema, layout, circuits: [...manifest.circuits] };
}

function parseSchemaAt(json: unknown): Schema {
  try {
    return parseSchema(json);
  } catch (error) {
    if (error instanceof SchemaError) {
      throw new ManifestError(error.path === "$" ? "schema" : `schema.${error.path}`, error.reason);
    }
    throw error;
  }
}

function layoutAt(json: CommitmentLayout): CommitmentLayout {
  try {
    return makeLayout(json);
  } catch (error) {
    if (error instanceof InputError) throw new ManifestError("layout", error.message);
    throw error;
  }
}
