/**
 * @module dataset/salt
 *
 * Per-slot salts (design.md section 2): `salt[i] = int(HMAC-SHA256(datasetSecret, "zktally/salt/v1" || 0x00 ||
 * datasetId || 0x00 || u64be(epoch) || u64be(i))[0..31])`, the first 31 bytes big-endian, so salt < 2^248 < r.
 *
 * Security caveats: the dataset secret is what keeps leaves unguessable; anyone holding it can brute-force
 * low-entropy records from the public root. Keep it with the operator, never in manifests, logs or bundles.
 * Re-committing the same data needs a fresh epoch (or secret), otherwise equal salts link the commitments.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { assertDatasetId } from "../core/formats.ts";

export const SALT_DOMAIN = "zktally/salt/v1";
/** Domain of the per-leaf salts of the chunked layout v2 (design.md section 7.2). */
export const LEAF_SALT_DOMAIN = "zktally/salt/v2";
export const DATASET_SECRET_BYTES = 32;
/** Bytes of the HMAC output kept, so every salt is below 2^248 and hence a canonical field element. */
export const SALT_BYTES = 31;

/** A fresh random 32-byte dataset secret. */
export function generateDatasetSecret(): Uint8Array {
  return randomBytes(DATASET_SECRET_BYTES);
}

/** Salt of slot `index` of dataset `datasetId` at `epoch` (design.md section 2). */
export function deriveSalt(secret: Uint8Array, datasetId: string, epoch: number, index: number): bigint {
  assertSecret(secret);
  return saltFromPrefix(secret, saltMessagePrefix(datasetId, epoch), index);
}

/** Salts of slots 0..count-1 (padding slots included); same values as `deriveSalt` one by one. */
export function deriveSalts(secret: Uint8Array, datasetId: string, epoch: number, count: number): bigint[] {
  assertSecret(secret);
  assertIndex("count", count);
  const prefix = saltMessagePrefix(datasetId, epoch);
  return Array.from({ length: count }, (_, index) => saltFromPrefix(secret, prefix, index));
}

/**
 * Salts of the v2 leaves `firstLeaf .. firstLeaf+count-1` (global leaf index c * S/B + j, design.md 7.2):
 * the v1 construction under the domain "zktally/salt/v2" with the leaf index instead of the slot index.
 */
export function deriveLeafSalts(
  secret: Uint8Array,
  datasetId: string,
  epoch: number,
  firstLeaf: number,
  count: number,
): bigint[] {
  assertSecret(secret);
  assertIndex("firstLeaf", firstLeaf);
  assertIndex("count", count);
  const prefix = saltMessagePrefix(datasetId, epoch, LEAF_SALT_DOMAIN);
  return Array.from({ length: count }, (_, offset) => saltFromPrefix(secret, prefix, firstLeaf + offset));
}

/**
 * `count` values under another domain of the same construction (HMAC-SHA256 of the dataset secret, first 31
 * bytes): the noise seed and its blind (design.md 8.1) are derived this way, so they live with the secret.
 */
export function deriveSecretValues(
  secret: Uint8Array,
  domain: string,
  datasetId: string,
  epoch: number,
  count: number,
): bigint[] {
  assertSecret(secret);
  assertIndex("count", count);
  if (domain === SALT_DOMAIN || domain === LEAF_SALT_DOMAIN)
    throw new RangeError("a salt domain is reserved");
  const prefix = saltMessagePrefix(datasetId, epoch, domain);
  return Array.from({ length: count }, (_, index) => saltFromPrefix(secret, prefix, index));
}

function saltFromPrefix(secret: Uint8Array, prefix: Uint8Array, index: number): bigint {
  assertIndex("index", index);
  const mac = hmac(sha256, secret, concatBytes(prefix, u64be(index)));
  return BigInt(`0x${bytesToHex(mac.subarray(0, SALT_BYTES))}`);
}

/** `utf8(domain) || 0x00 || utf8(datasetId) || 0x00 || u64be(epoch)`. */
function saltMessagePrefix(datasetId: string, epoch: number, domain = SALT_DOMAIN): Uint8Array {
  assertDatasetId(datasetId);
  assertIndex("epoch", epoch);
  const zero = Uint8Array.of(0);
  return concatBytes(utf8ToBytes(domain), zero, utf8ToBytes(datasetId), zero, u64be(epoch));
}

function assertSecret(secret: unknown): asserts secret is Uint8Array {
  if (!(secret instanceof Uint8Array)) throw new TypeError("dataset secret must be a Uint8Array");
  if (secret.length !== DATASET_SECRET_BYTES) {
    throw new RangeError(`dataset secret must be ${DATASET_SECRET_BYTES} bytes (got ${secret.length})`);
  }
}

function assertIndex(name: string, value: unknown): asserts value is number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number (got ${typeof value})`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer (got ${value})`);
  }
}

function u64be(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value), false);
  return bytes;
}
