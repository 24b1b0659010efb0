/**
 * @module service/epoch-keys
 *
 * Per-epoch data keys (crypto-shredding, docs/operations.md): every dataset epoch registered since this
 * module exists gets its own random 32-byte AES-256-GCM key; the epoch's records and dataset secret are
 * sealed under it, and the key itself is sealed by the storage KeyRing in `epoch_keys`. `destroy` deletes
 * the key row: from then on nothing stored decrypts to that epoch's records, whatever copy of the envelopes
 * survives. Storage key rotation re-seals only these 32-byte keys.
 *
 * Envelopes have the KeyRing's shape with `keyId` 0 (the epoch key) and the same associated data
 * (`{datasetId, epoch, keyId, purpose}` as canonical JSON), so they open only in the row and column they
 * were written for.
 *
 * Security caveats: the database runs with `secure_delete` (db.ts), so deleted key rows and replaced
 * envelopes are zeroed in the file; backups taken before a destruction still hold the key (see
 * docs/operations.md, backups). Decrypted keys live in process memory only while sealing or opening.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { canonicalJson } from "../util/canonical-json.ts";
import { IntegrityError } from "../util/errors.ts";
import { type Db, statement } from "./db.ts";
import { type EnvelopeAad, type EnvelopeCipher, openText, sealText } from "./sealed.ts";

const KEY_PURPOSE = "epoch-key";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

interface EpochEnvelope {
  readonly v: 1;
  readonly keyId: 0;
  readonly nonce: string;
  readonly ciphertext: string;
  readonly tag: string;
}

/** An `EnvelopeCipher` over one epoch's data key. */
export function epochCipher(key: Uint8Array): EnvelopeCipher {
  return {
    encrypt: (plaintext, aad) => seal(key, plaintext, aad),
    decrypt: (envelope, aad) => open(key, envelope as unknown, aad),
  };
}

function aadBytes(aad: EnvelopeAad): Buffer {
  return Buffer.from(
    canonicalJson({ datasetId: aad.datasetId, epoch: aad.epoch, keyId: 0, purpose: aad.purpose }),
  );
}

function seal(key: Uint8Array, plaintext: Uint8Array, aad: EnvelopeAad): EpochEnvelope {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadBytes(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    v: 1,
    keyId: 0,
    nonce: nonce.toString("base64"),
    ciphertext: ciphertext.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
  };
}

function open(key: Uint8Array, envelope: unknown, aad: EnvelopeAad): Uint8Array {
  const value = envelope as Partial<EpochEnvelope> | null;
  if (value?.v !== 1 || value.keyId !== 0 || typeof value.nonce !== "string" || typeof value.tag !== "string")
    throw new IntegrityError("decrypt_failed", "epoch envelope is malformed");
  const tag = Buffer.from(value.tag, "base64");
  if (tag.length !== TAG_BYTES) throw new IntegrityError("decrypt_failed", "epoch envelope tag is malformed");
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(value.nonce, "base64"), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aadBytes(aad));
  decipher.setAuthTag(tag);
  const plain = decipher.update(Buffer.from(String(value.ciphertext), "base64"));
  try {
    return Buffer.concat([plain, decipher.final()]);
  } catch {
    plain.fill(0);
    throw new IntegrityError("decrypt_failed", "epoch envelope does not decrypt");
  }
}

/** The `epoch_keys` table: create, open, re-seal and destroy per-epoch data keys. */
export class EpochKeys {
  constructor(
    private readonly db: Db,
    private readonly storage: EnvelopeCipher,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Stores a fresh key for the epoch (inside the caller's transaction); returns its cipher. `key` is one the
   * caller drew already (a chunked dataset's chunk store is sealed before its row exists); default random.
   */
  create(
    datasetId: string,
    epoch: number,
    key: Uint8Array = new Uint8Array(randomBytes(32)),
  ): EnvelopeCipher {
    statement(
      this.db,
      "INSERT INTO epoch_keys (dataset_id, epoch, envelope, created_at) VALUES (?, ?, ?, ?)",
    ).run(
      datasetId,
      epoch,
      sealText(this.storage, key, { datasetId, epoch, purpose: KEY_PURPOSE }),
      this.now(),
    );
    return epochCipher(key);
  }

  /** The epoch's cipher; undefined when the epoch has no key (registered before epoch keys, or destroyed). */
  cipherFor(datasetId: string, epoch: number): EnvelopeCipher | undefined {
    const row = statement(this.db, "SELECT envelope FROM epoch_keys WHERE dataset_id = ? AND epoch = ?").get(
      datasetId,
      epoch,
    ) as { envelope: string } | undefined;
    if (row === undefined) return undefined;
    return epochCipher(openText(this.storage, row.envelope, { datasetId, epoch, purpose: KEY_PURPOSE }));
  }

  has(datasetId: string, epoch: number): boolean {
    return (
      statement(this.db, "SELECT 1 AS one FROM epoch_keys WHERE dataset_id = ? AND epoch = ?").get(
        datasetId,
        epoch,
      ) !== undefined
    );
  }

  /** Deletes the epoch's key (crypto-shredding); true when there was one. */
  destroy(datasetId: string, epoch: number): boolean {
    return (
      statement(this.db, "DELETE FROM epoch_keys WHERE dataset_id = ? AND epoch = ?").run(datasetId, epoch)
        .changes > 0
    );
  }

  /** Re-seals every epoch key under the storage cipher's current key; returns how many. */
  resealAll(reseal: (text: string, aad: EnvelopeAad) => string): number {
    const rows = statement(this.db, "SELECT dataset_id, epoch, envelope FROM epoch_keys").all() as {
      dataset_id: string;
      epoch: number;
      envelope: string;
    }[];
    const update = statement(
      this.db,
      "UPDATE epoch_keys SET envelope = ? WHERE dataset_id = ? AND epoch = ?",
    );
    for (const row of rows) {
      const aad = { datasetId: row.dataset_id, epoch: row.epoch, purpose: KEY_PURPOSE };
      update.run(reseal(row.envelope, aad), row.dataset_id, row.epoch);
    }
    return rows.length;
  }
}
