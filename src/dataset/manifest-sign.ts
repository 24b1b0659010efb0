/**
 * @module dataset/manifest-sign
 *
 * The operator's side of the signed dataset manifest (design.md section 5): Ed25519 operator keys and the
 * signature over the canonical JSON of the manifest without `signature` (`manifestSigningBytes`), for both
 * manifest versions.
 *
 * Security caveat: the secret key signs every manifest partners will trust; it never leaves the operator
 * (this module is outside the verifier SDK's import closure).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  type AnyManifest,
  type AnyUnsignedManifest,
  type ChunkedManifest,
  type DatasetManifest,
  manifestSigningBytes,
  parseAnyUnsignedManifest,
  type UnsignedChunkedManifest,
  type UnsignedManifest,
} from "./manifest.ts";

const ED25519_SECRET_BYTES = 32;

/** Signs with the operator's Ed25519 secret key; `operatorKey` is set to its public key. */
export function signManifest(unsigned: UnsignedManifest, secretKey: Uint8Array): DatasetManifest;
export function signManifest(unsigned: UnsignedChunkedManifest, secretKey: Uint8Array): ChunkedManifest;
export function signManifest(unsigned: AnyUnsignedManifest, secretKey: Uint8Array): AnyManifest {
  assertSecretKey(secretKey);
  const body = { ...parseAnyUnsignedManifest(unsigned), operatorKey: operatorKeyOf(secretKey) };
  const signature = bytesToHex(ed25519.sign(manifestSigningBytes(body), secretKey));
  return { ...body, signature } as AnyManifest;
}

/** A fresh operator key pair: the 32-byte secret key and the public key as lowercase hex (`operatorKey`). */
export function generateOperatorKey(): { secretKey: Uint8Array; publicKey: string } {
  const { secretKey } = ed25519.keygen();
  return { secretKey, publicKey: operatorKeyOf(secretKey) };
}

/** The hex public key (`operatorKey`) for an Ed25519 secret key. */
export function operatorKeyOf(secretKey: Uint8Array): string {
  assertSecretKey(secretKey);
  return bytesToHex(ed25519.getPublicKey(secretKey));
}

function assertSecretKey(secretKey: unknown): asserts secretKey is Uint8Array {
  if (!(secretKey instanceof Uint8Array)) throw new TypeError("operator secret key must be a Uint8Array");
  if (secretKey.length !== ED25519_SECRET_BYTES) {
    throw new RangeError(
      `operator secret key must be ${ED25519_SECRET_BYTES} bytes (got ${secretKey.length})`,
    );
  }
}
