/**
 * @module core/formats
 *
 * Textual formats shared by every layer (browser-safe; zod is the only import): identifiers that name
 * datasets, lowercase hex of a fixed length (SHA-256 digests, Ed25519 keys and signatures) and the zod
 * primitives built from them and from core/field, so each pattern is written once.
 */
import { z } from "zod";
import { CANONICAL_DECIMAL, MAX_DECIMAL_DIGITS } from "./field.ts";

/** A dataset id: 1..64 characters of [A-Za-z0-9._-] (design.md section 2; also a file-name component). */
export const DATASET_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Throws `TypeError` unless `datasetId` is 1..64 characters of [A-Za-z0-9._-]. */
export function assertDatasetId(datasetId: unknown): asserts datasetId is string {
  if (typeof datasetId !== "string" || !DATASET_ID_PATTERN.test(datasetId)) {
    throw new TypeError(
      `datasetId must match ${DATASET_ID_PATTERN} (got ${JSON.stringify(String(datasetId))})`,
    );
  }
}

/** Exactly `bytes` bytes as lowercase hex (the only hex the formats write). */
export function lowerHexPattern(bytes: number): RegExp {
  return new RegExp(`^[0-9a-f]{${bytes * 2}}$`);
}

/** 32 bytes of lowercase hex: SHA-256 digests, Ed25519 public keys, log and operator keys. */
export const HEX32 = lowerHexPattern(32);

/** 32 bytes of hex in either case: what a person may type or paste for a key to pin. */
export const HEX32_ANY_CASE = /^[0-9a-fA-F]{64}$/;

/** zod: `bytes` bytes of lowercase hex, with the message `message`. */
export function hexSchema(bytes: number, message = `must be ${bytes} bytes of lowercase hex`) {
  return z.string().regex(lowerHexPattern(bytes), message);
}

/** zod: a canonical decimal string of at most 78 digits (`core/field`); range checks are the caller's. */
export const canonicalDecimalSchema = z
  .string()
  .max(MAX_DECIMAL_DIGITS)
  .regex(CANONICAL_DECIMAL, "must be a canonical decimal string");
