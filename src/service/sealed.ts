/**
 * @module service/sealed
 *
 * The seam between the service and the storage KeyRing (src/storage/keyring.ts): envelopes are stored as
 * JSON text in SQLite columns, and every envelope is bound to `{datasetId, epoch, purpose}` as associated
 * data, so it decrypts only in the row and column it was written for. Service keys (operator signing key,
 * token key, audit log key) are sealed the same way under the reserved id `zktally-service`, epoch 0.
 *
 * Security caveat: decryption failures are reported without the cipher's message (it may name key
 * versions); callers wrap them in their own typed errors.
 */

/** Associated data of an envelope. */
export interface EnvelopeAad {
  readonly datasetId: string;
  readonly epoch: number;
  readonly purpose: string;
}

/** What the service needs from a KeyRing. */
export interface EnvelopeCipher {
  encrypt(plaintext: Uint8Array, aad: EnvelopeAad): unknown;
  decrypt(envelope: never, aad: EnvelopeAad): Uint8Array;
}

/** Dataset id used as associated data for the service's own keys. */
export const SERVICE_KEY_SCOPE = "zktally-service";

/** Encrypts and serialises an envelope for a TEXT column. */
export function sealText(cipher: EnvelopeCipher, plaintext: Uint8Array, aad: EnvelopeAad): string {
  return JSON.stringify(cipher.encrypt(plaintext, aad));
}

/** Parses and decrypts an envelope from a TEXT column; throws when it does not decrypt under `aad`. */
export function openText(cipher: EnvelopeCipher, text: string, aad: EnvelopeAad): Uint8Array {
  const envelope = JSON.parse(text) as never;
  return new Uint8Array(cipher.decrypt(envelope, aad));
}
