/**
 * @module dataset/string-key
 *
 * String keys (design.md section 1): a `string-key` field holds a name (a user name, an e-mail address) in
 * CSV/JSONL files and a `bits`-bit unsigned integer in records and circuits. The integer is a keyed hash
 * the operator computes:
 *
 *   keySecret = first 31 bytes of HMAC-SHA256(datasetSecret, "zktally/string-key/v1" || 0x00 || datasetId ||
 *               0x00 || u64be(epoch) || u64be(0))   (`deriveSecretValues`, the noise seed's construction)
 *   key(name) = first 8 bytes of HMAC-SHA256(keySecret, "zktally/string-key/v1" || 0x00 || utf8(NFC(name)))
 *               read big-endian, shifted right to `bits` bits
 *
 * so the key is below 2^bits <= 2^{@link MAX_STRING_KEY_BITS} (a JSON-safe integer, far below r), and a
 * name typed in decomposed form (e + U+0301) gets the key of its composed form.
 *
 * Security caveats:
 * - The key secret derives from the epoch's dataset secret: it never leaves the operator, and a name's key
 *   changes with every epoch (keys in bundles of different epochs are unlinkable).
 * - Without the secret nobody can compute a name's key, so a partner cannot test guessed names offline
 *   against keys seen in bundles or the transparency log; equally, a partner cannot check that the operator
 *   mapped its names honestly: the proof is about the hashed key, the name -> key step is trusted.
 * - A truncated hash collides: two names with one key are refused at load (the loader names both rows);
 *   the odds for n names are about n^2 / 2^(bits+1), so widen `bits` for large populations.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { deriveSecretValues, SALT_BYTES } from "./salt.ts";
import { MAX_STRING_KEY_BITS } from "./schema.ts";

export const STRING_KEY_DOMAIN = "zktally/string-key/v1";
/** Longest name accepted (UTF-16 code units, after NFC). */
export const MAX_NAME_LENGTH = 256;

/** Maps a name to its key for a string-key field of `bits` bits. Operator side only: it holds the secret. */
export type StringKeyHasher = (name: string, bits: number) => bigint;

/** The key-hash secret of dataset `datasetId` at `epoch`, derived from its dataset secret. */
export function deriveStringKeySecret(
  datasetSecret: Uint8Array,
  datasetId: string,
  epoch: number,
): Uint8Array {
  const [value] = deriveSecretValues(datasetSecret, STRING_KEY_DOMAIN, datasetId, epoch, 1) as [bigint];
  return hexToBytes(value.toString(16).padStart(SALT_BYTES * 2, "0"));
}

/** The key of `name` (NFC-normalised) under `keySecret`, truncated to `bits` bits. */
export function stringKeyOf(keySecret: Uint8Array, name: string, bits: number): bigint {
  assertBits(bits);
  const message = concatBytes(
    utf8ToBytes(STRING_KEY_DOMAIN),
    Uint8Array.of(0),
    utf8ToBytes(name.normalize("NFC")),
  );
  const mac = hmac(sha256, keySecret, message);
  return BigInt(`0x${bytesToHex(mac.subarray(0, 8))}`) >> BigInt(64 - bits);
}

/** The hasher of dataset `datasetId` at `epoch` (what the loader and the service's name lookup use). */
export function stringKeyHasher(
  datasetSecret: Uint8Array,
  datasetId: string,
  epoch: number,
): StringKeyHasher {
  const keySecret = deriveStringKeySecret(datasetSecret, datasetId, epoch);
  return (name, bits) => stringKeyOf(keySecret, name, bits);
}

/** Why `name` cannot be a string key's name (empty, too long), or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "a name must be non-empty";
  if (name.normalize("NFC").length > MAX_NAME_LENGTH)
    return `a name has at most ${MAX_NAME_LENGTH} characters`;
  return undefined;
}

function assertBits(bits: number): void {
  if (!Number.isSafeInteger(bits) || bits < 1 || bits > MAX_STRING_KEY_BITS) {
    throw new RangeError(`string key bits must be 1..${MAX_STRING_KEY_BITS} (got ${bits})`);
  }
}
