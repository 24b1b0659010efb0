/**
 * @module storage/keyring
 *
 * Encryption at rest for dataset records, salts and dataset secrets: `KeyRing` holds the data-encryption
 * keys of a key file (storage/keyfile) and seals byte strings into `Envelope`s with AES-256-GCM
 * (node:crypto, NIST SP 800-38D).
 *
 * - Associated data is the canonical JSON of `{datasetId, epoch, keyId, purpose}`: an envelope only opens
 *   for the dataset, epoch, purpose and key it was sealed for, so envelopes cannot be swapped between
 *   datasets, epochs or purposes (e.g. records vs salts), and relabelling `keyId` breaks authentication.
 * - Nonces are 96 random bits from the OS CSPRNG per encryption (SP 800-38D section 8.2.2). A counter
 *   would need durable state shared by every process using the key file, and a crash between encrypting and
 *   persisting the counter repeats a nonce, which in GCM leaks the XOR of plaintexts and the
 *   authentication key. Random nonces need no state; for q encryptions under one key the collision
 *   probability is about q^2 / 2^97, i.e. 2^-33 at q = 2^32. The ring therefore refuses more than 2^32
 *   encryptions per key per process (rotate long before that), and a per-process guard remembers the last
 *   2^17 nonces of each key and throws if one repeats: that can only mean a broken random source.
 * - `rotate` adds a new current key (old keys stay to decrypt), `reencrypt` moves an envelope to the
 *   current key, `destroy` deletes a retired key's material (crypto-shredding its data).
 *
 * Security caveats: `DecryptError` is deliberately uninformative (tampered, wrong key, wrong associated
 * data all read alike) and never carries plaintext: Node's GCM decipher returns plaintext before the tag
 * is checked, so that buffer is zeroed when `final()` fails. Tags must be the full 16 bytes (Node would
 * otherwise accept truncated tags). Keys live in process memory as Buffers; destroyed keys are zeroed
 * there, but copies in swap, core dumps, backups or old key files are out of reach. Decrypted plaintext is
 * the caller's to zero after use.
 */

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DATASET_ID_PATTERN } from "../core/formats.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { IntegrityError } from "../util/errors.ts";
import {
  createKeyFile,
  type KeyFileContent,
  KeyFileError,
  type KeyRecord,
  readKeyFile,
  replaceKeyFile,
} from "./keyfile.ts";

export { KeyFileError } from "./keyfile.ts";

/** A sealed byte string; every binary field is standard padded base64. */
export interface Envelope {
  readonly v: 1;
  readonly keyId: number;
  /** 12 bytes. */
  readonly nonce: string;
  readonly ciphertext: string;
  /** 16 bytes. */
  readonly tag: string;
}

/** What an envelope is bound to (with the key id, it forms the GCM associated data). */
export interface EnvelopeContext {
  readonly datasetId: string;
  readonly epoch: number;
  /** What the plaintext is, e.g. "records", "salts", "dataset-secret". */
  readonly purpose: string;
}

/** The brief's name for the context: it becomes (with the key id) the associated data. */
export type EnvelopeAad = EnvelopeContext;

/** Public facts about a key (never its material). */
export interface KeyInfo {
  readonly id: number;
  readonly createdAt: string;
  readonly destroyed: boolean;
  readonly current: boolean;
}

export type DecryptFailure = "malformed" | "unknown-key" | "destroyed-key" | "authentication";

/** An envelope did not open: tampered, wrong key, wrong context, destroyed or unknown key. No plaintext. */
export class DecryptError extends IntegrityError {
  constructor(
    readonly failure: DecryptFailure,
    message: string,
  ) {
    super("decrypt_failed", message);
  }
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = "aes-256-gcm";
const PURPOSE_PATTERN = /^[a-z][a-z0-9._-]{0,63}$/;
/** SP 800-38D section 8.3: at most 2^32 invocations of random-nonce GCM per key. */
const MAX_ENCRYPTIONS_PER_KEY = 2 ** 32;
const NONCE_MEMORY = 1 << 17;

export class KeyRing {
  readonly #path: string;
  #records: KeyRecord[];
  #current: number;
  readonly #keys = new Map<number, Buffer>();
  readonly #guards = new Map<number, NonceGuard>();
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(path: string, content: KeyFileContent) {
    this.#path = path;
    this.#records = [...content.keys];
    this.#current = content.current;
    for (const record of content.keys) {
      if (record.key !== undefined) this.#keys.set(record.id, Buffer.from(record.key, "hex"));
    }
  }

  /** Loads a key file; throws KeyFileError when missing, group/world accessible or malformed. */
  static async load(path: string): Promise<KeyRing> {
    assertPath(path);
    return new KeyRing(path, await readKeyFile(path));
  }

  /** Creates a new key file (mode 0600) holding one fresh key; throws KeyFileError if it exists. */
  static async create(path: string): Promise<KeyRing> {
    assertPath(path);
    const content: KeyFileContent = { version: 1, keys: [freshRecord(1)], current: 1 };
    await createKeyFile(path, content);
    return new KeyRing(path, content);
  }

  /** `load`, or `create` when the file does not exist yet (first start of a service). */
  static async loadOrCreate(path: string): Promise<KeyRing> {
    try {
      return await KeyRing.load(path);
    } catch (error) {
      if (!(error instanceof KeyFileError) || error.errno !== "ENOENT") throw error;
    }
    try {
      return await KeyRing.create(path);
    } catch (error) {
      // Another process created it between our two calls: use theirs.
      if (error instanceof KeyFileError && error.errno === "EEXIST") return KeyRing.load(path);
      throw error;
    }
  }

  get path(): string {
    return this.#path;
  }

  get currentKeyId(): number {
    return this.#current;
  }

  keys(): KeyInfo[] {
    return this.#records.map((record) => ({
      id: record.id,
      createdAt: record.createdAt,
      destroyed: record.destroyed === true,
      current: record.id === this.#current,
    }));
  }

  /** Seals `plaintext` under the current key for `context`. */
  encrypt(plaintext: Uint8Array, context: EnvelopeContext): Envelope {
    if (!(plaintext instanceof Uint8Array)) throw new TypeError("encrypt: plaintext must be a Uint8Array");
    const keyId = this.#current;
    const aad = associatedData(context, keyId);
    const key = this.#keys.get(keyId) as Buffer;
    const nonce = randomBytes(NONCE_BYTES);
    this.#guard(keyId).admit(nonce);
    const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      v: 1,
      keyId,
      nonce: nonce.toString("base64"),
      ciphertext: ciphertext.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
    };
  }

  /** Opens an envelope sealed for `context`; throws DecryptError for anything but an authentic match. */
  decrypt(envelope: unknown, context: EnvelopeContext): Uint8Array {
    const parts = parseEnvelope(envelope);
    const aad = associatedData(context, parts.keyId);
    const key = this.#keyFor(parts.keyId);
    const decipher = createDecipheriv(ALGORITHM, key, parts.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(parts.tag);
    const plaintext = decipher.update(parts.ciphertext);
    try {
      decipher.final();
    } catch {
      // update() already produced unauthenticated plaintext: wipe it before anyone can see it.
      plaintext.fill(0);
      throw new DecryptError(
        "authentication",
        "envelope does not authenticate (tampered, wrong key, or wrong dataset/epoch/purpose)",
      );
    }
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  }

  /** Opens an envelope and seals its plaintext again under the current key. */
  reencrypt(envelope: unknown, context: EnvelopeContext): Envelope {
    const plaintext = this.decrypt(envelope, context);
    try {
      return this.encrypt(plaintext, context);
    } finally {
      plaintext.fill(0);
    }
  }

  /** Adds a fresh key, makes it current and persists the file atomically; returns its id. */
  rotate(): Promise<number> {
    return this.#serialised(async () => {
      const id = Math.max(...this.#records.map((record) => record.id)) + 1;
      const record = freshRecord(id);
      const records = [...this.#records, record];
      await replaceKeyFile(this.#path, { version: 1, keys: records, current: id });
      this.#records = records;
      this.#keys.set(id, Buffer.from(record.key as string, "hex"));
      this.#current = id;
      return id;
    });
  }

  /** Deletes a retired key's material from the file and memory; its envelopes become unreadable. */
  destroy(keyId: number): Promise<void> {
    return this.#serialised(async () => {
      const record = this.#records.find((candidate) => candidate.id === keyId);
      if (record === undefined) throw new RangeError(`destroy: no key with id ${keyId}`);
      if (keyId === this.#current) throw new RangeError(`destroy: key ${keyId} is current; rotate first`);
      if (record.destroyed) return;
      const records = this.#records.map((candidate) =>
        candidate.id === keyId
          ? { id: keyId, createdAt: candidate.createdAt, destroyed: true as const }
          : candidate,
      );
      await replaceKeyFile(this.#path, { version: 1, keys: records, current: this.#current });
      this.#records = records;
      this.#keys.get(keyId)?.fill(0);
      this.#keys.delete(keyId);
      this.#guards.delete(keyId);
    });
  }

  #keyFor(keyId: number): Buffer {
    const key = this.#keys.get(keyId);
    if (key !== undefined) return key;
    const record = this.#records.find((candidate) => candidate.id === keyId);
    if (record?.destroyed)
      throw new DecryptError("destroyed-key", `key ${keyId} was destroyed; its data is unreadable`);
    throw new DecryptError("unknown-key", `key ${keyId} is not in this key file`);
  }

  #guard(keyId: number): NonceGuard {
    let guard = this.#guards.get(keyId);
    if (!guard) {
      guard = new NonceGuard(NONCE_MEMORY, MAX_ENCRYPTIONS_PER_KEY);
      this.#guards.set(keyId, guard);
    }
    return guard;
  }

  /** File writes one at a time, so concurrent rotate/destroy calls never lose each other's change. */
  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(task, task);
    this.#writes = run.catch(() => undefined);
    return run;
  }
}

/**
 * Per-key nonce bookkeeping: counts encryptions (refusing beyond `limit`) and remembers the last `memory`
 * nonces, throwing on a repeat (a broken random source; astronomically unlikely otherwise).
 */
export class NonceGuard {
  readonly #recent = new Set<string>();
  readonly #order: string[];
  #next = 0;
  #count = 0;

  constructor(
    readonly memory: number,
    readonly limit: number,
  ) {
    this.#order = new Array<string>(memory);
  }

  admit(nonce: Uint8Array): void {
    if (this.#count >= this.limit) {
      throw new RangeError(`key used for ${this.limit} encryptions; rotate the key before encrypting more`);
    }
    const id = Buffer.from(nonce).toString("base64");
    if (this.#recent.has(id))
      throw new Error("nonce repeated: the random source is broken; refusing to encrypt");
    const evicted = this.#order[this.#next];
    if (evicted !== undefined) this.#recent.delete(evicted);
    this.#order[this.#next] = id;
    this.#next = (this.#next + 1) % this.memory;
    this.#recent.add(id);
    this.#count += 1;
  }
}

/** The GCM associated data: canonical JSON of the context plus the key id. */
export function associatedData(context: EnvelopeContext, keyId: number): Buffer {
  if (typeof context !== "object" || context === null) throw new TypeError("context must be an object");
  const { datasetId, epoch, purpose } = context;
  if (typeof datasetId !== "string" || !DATASET_ID_PATTERN.test(datasetId)) {
    throw new TypeError(`context.datasetId must match ${DATASET_ID_PATTERN}`);
  }
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new RangeError("context.epoch must be a non-negative safe integer");
  }
  if (typeof purpose !== "string" || !PURPOSE_PATTERN.test(purpose)) {
    throw new TypeError(`context.purpose must match ${PURPOSE_PATTERN}`);
  }
  return Buffer.from(canonicalJson({ datasetId, epoch, keyId, purpose }), "utf8");
}

function parseEnvelope(value: unknown): { keyId: number; nonce: Buffer; ciphertext: Buffer; tag: Buffer } {
  const malformed = (what: string) => new DecryptError("malformed", `envelope is malformed: ${what}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw malformed("not an object");
  const record = value as Record<string, unknown>;
  const fields = Object.keys(record).sort().join(",");
  if (fields !== "ciphertext,keyId,nonce,tag,v") throw malformed(`fields are ${fields}`);
  if (record.v !== 1) throw malformed("v must be 1");
  const { keyId } = record;
  if (typeof keyId !== "number" || !Number.isSafeInteger(keyId) || keyId < 1) throw malformed("keyId");
  const nonce = strictBase64(record.nonce);
  const tag = strictBase64(record.tag);
  const ciphertext = strictBase64(record.ciphertext);
  if (nonce?.length !== NONCE_BYTES) throw malformed(`nonce must be ${NONCE_BYTES} bytes of base64`);
  if (tag?.length !== TAG_BYTES) throw malformed(`tag must be ${TAG_BYTES} bytes of base64`);
  if (ciphertext === undefined) throw malformed("ciphertext must be base64");
  return { keyId, nonce, ciphertext, tag };
}

/** Canonical padded base64 only (Node's decoder silently skips junk characters). */
function strictBase64(value: unknown): Buffer | undefined {
  if (typeof value !== "string") return undefined;
  const bytes = Buffer.from(value, "base64");
  return bytes.toString("base64") === value ? bytes : undefined;
}

function freshRecord(id: number): KeyRecord {
  return { id, key: randomBytes(KEY_BYTES).toString("hex"), createdAt: new Date().toISOString() };
}

function assertPath(path: unknown): asserts path is string {
  if (typeof path !== "string" || path.length === 0)
    throw new TypeError("key file path must be a non-empty string");
}
