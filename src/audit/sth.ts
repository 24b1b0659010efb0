/**
 * @module audit/sth
 *
 * Signed tree heads: Ed25519 signatures by the log key over the canonical JSON of
 * `{logKey, rootHash, timestamp, treeSize}` (the head without `signature`).
 *
 * Ed25519 runs on node:crypto (OpenSSL) rather than @noble/curves: an auditor checks one head per appended
 * entry, and OpenSSL verifies about ten times faster. The 32-byte secret key is the RFC 8032 seed, the same
 * format `@noble/curves` and dataset/manifest use.
 *
 * Security caveats: the signed message has no separate domain tag; its exact key set
 * (logKey/rootHash/timestamp/treeSize) is what distinguishes it from other zktally signatures, and manifests
 * are parsed strictly, so a head can never verify as a manifest. Still prefer a dedicated log key.
 * `verifyTreeHead` requires the head's `logKey` to equal the pinned key; a key taken from the head itself
 * would prove nothing.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { HEX32 } from "../core/formats.ts";
import { parseTreeHead, type SignedTreeHead, treeHeadSigningText } from "./types.ts";

/** PKCS#8 and SPKI DER prefixes for a raw Ed25519 seed / public key (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const SECRET_KEY_BYTES = 32;

/** The log's signing key, ready for use. */
export interface LogKeyPair {
  readonly privateKey: KeyObject;
  /** Lowercase hex Ed25519 public key. */
  readonly logKey: string;
}

/** Imports a 32-byte Ed25519 secret key (seed); throws TypeError/RangeError for anything else. */
export function importLogSigner(signer: { secretKey: Uint8Array }): LogKeyPair {
  const secretKey = (signer as { secretKey?: unknown } | null)?.secretKey;
  if (!(secretKey instanceof Uint8Array)) throw new TypeError("signer.secretKey must be a Uint8Array");
  if (secretKey.length !== SECRET_KEY_BYTES) {
    throw new RangeError(`signer.secretKey must be ${SECRET_KEY_BYTES} bytes (got ${secretKey.length})`);
  }
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, secretKey]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  der.fill(0);
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { privateKey, logKey: spki.subarray(SPKI_ED25519_PREFIX.length).toString("hex") };
}

/** Signs the head `{treeSize, rootHash, timestamp}` with the log key. */
export function signTreeHead(
  body: { treeSize: number; rootHash: string; timestamp: number },
  keys: LogKeyPair,
): SignedTreeHead {
  const unsigned = {
    treeSize: body.treeSize,
    rootHash: body.rootHash,
    timestamp: body.timestamp,
    logKey: keys.logKey,
  };
  return parseTreeHead({ ...unsigned, signature: signBytes(signedBytes(unsigned), keys) });
}

/** Hex Ed25519 signature of `message` by the log key (tree heads, log key rotations). */
export function signBytes(message: Buffer, keys: LogKeyPair): string {
  return sign(null, message, keys.privateKey).toString("hex");
}

/** True when `signature` (hex) is `logKey`'s Ed25519 signature of `message`; never throws. */
export function verifySignature(logKey: string, message: Buffer, signature: string): boolean {
  try {
    return verify(null, message, publicKeyObject(logKey), Buffer.from(signature, "hex"));
  } catch {
    return false;
  }
}

/**
 * True when `head` is well formed, names `logKey` and carries a valid signature by it. Never throws for a
 * malformed head; throws TypeError when `logKey` itself is not 32 bytes of hex (a caller error).
 */
export function verifyTreeHead(head: unknown, logKey: string): boolean {
  const pinned = normaliseLogKey(logKey);
  let parsed: SignedTreeHead;
  try {
    parsed = parseTreeHead(head);
  } catch {
    return false;
  }
  if (parsed.logKey !== pinned) return false;
  const { signature, ...unsigned } = parsed;
  return verifySignature(pinned, signedBytes(unsigned), signature);
}

/** Lowercases and checks a hex log key; throws TypeError when malformed. */
export function normaliseLogKey(logKey: unknown): string {
  if (typeof logKey !== "string" || !HEX32.test(logKey.toLowerCase())) {
    throw new TypeError("logKey must be 32 bytes of hex (an Ed25519 public key)");
  }
  return logKey.toLowerCase();
}

/** The exact bytes a head signature covers (`treeHeadSigningText`, shared with the browser-safe SDK). */
export function signedBytes(unsigned: Omit<SignedTreeHead, "signature">): Buffer {
  return Buffer.from(treeHeadSigningText(unsigned), "utf8");
}

const publicKeys = new Map<string, KeyObject>();

function publicKeyObject(hex: string): KeyObject {
  let key = publicKeys.get(hex);
  if (!key) {
    key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(hex, "hex")]),
      format: "der",
      type: "spki",
    });
    // A handful of keys at most in practice; the bound keeps a hostile caller from growing it.
    if (publicKeys.size > 64) publicKeys.clear();
    publicKeys.set(hex, key);
  }
  return key;
}
