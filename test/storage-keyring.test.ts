/**
 * Encryption at rest: AES-256-GCM envelopes bound to dataset/epoch/purpose/key, tamper and swap
 * resistance, nonce uniqueness, rotation, re-encryption, destruction, key file permissions and format.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DecryptError,
  type Envelope,
  type EnvelopeContext,
  KeyFileError,
  KeyRing,
  NonceGuard,
} from "../src/storage/keyring.ts";

const scratch = mkdtempSync(join(tmpdir(), "zktally-keyring-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;
const newPath = () => join(scratch, `keys-${++files}.json`);

const CONTEXT: EnvelopeContext = { datasetId: "wiki-edits", epoch: 3, purpose: "records" };
const SECRET_TEXT = "user 1234 edited 56 pages in frwiki";
const PLAINTEXT = new TextEncoder().encode(SECRET_TEXT);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function flipBit(base64: string, bit: number): string {
  const bytes = Buffer.from(base64, "base64");
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return bytes.toString("base64");
}

function expectDecryptError(ring: KeyRing, envelope: unknown, context = CONTEXT, failure?: string): void {
  let caught: unknown;
  try {
    ring.decrypt(envelope, context);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecryptError);
  if (failure) expect((caught as DecryptError).failure).toBe(failure);
  // Nothing of the plaintext leaks through the error.
  expect(`${(caught as Error).message} ${JSON.stringify(caught)}`).not.toContain("1234");
}

describe("key file", () => {
  it("create writes a 0600 file that load reads back; create refuses to overwrite", async () => {
    const path = newPath();
    const ring = await KeyRing.create(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const content = JSON.parse(readFileSync(path, "utf8"));
    expect(content).toMatchObject({ version: 1, current: 1, keys: [{ id: 1 }] });
    expect(content.keys[0].key).toMatch(/^[0-9a-f]{64}$/);
    const again = await KeyRing.load(path);
    expect(again.decrypt(ring.encrypt(PLAINTEXT, CONTEXT), CONTEXT)).toEqual(PLAINTEXT);
    await expect(KeyRing.create(path)).rejects.toMatchObject({ name: "KeyFileError", errno: "EEXIST" });
    expect(readdirSync(scratch).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("load refuses a missing file; loadOrCreate creates it once", async () => {
    const path = newPath();
    await expect(KeyRing.load(path)).rejects.toMatchObject({ name: "KeyFileError", errno: "ENOENT" });
    const created = await KeyRing.loadOrCreate(path);
    const loaded = await KeyRing.loadOrCreate(path);
    expect(loaded.decrypt(created.encrypt(PLAINTEXT, CONTEXT), CONTEXT)).toEqual(PLAINTEXT);
  });

  // POSIX permission bits (zktally's service targets Linux; the check is skipped in code on Windows).
  it("refuses group- or world-accessible key files", async () => {
    const path = newPath();
    await KeyRing.create(path);
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o610, 0o601]) {
      chmodSync(path, mode);
      await expect(KeyRing.load(path), mode.toString(8)).rejects.toThrow(
        /must not be group\/world accessible/,
      );
    }
    chmodSync(path, 0o400);
    await expect(KeyRing.load(path)).resolves.toBeInstanceOf(KeyRing);
    chmodSync(path, 0o600);
    await expect(KeyRing.load(scratch)).rejects.toThrow(KeyFileError);
  });

  it("refuses malformed key files without echoing key material", async () => {
    const key = "ab".repeat(32);
    const valid = { version: 1, keys: [{ id: 1, key, createdAt: "2025-01-01T00:00:00.000Z" }], current: 1 };
    const cases: [unknown, RegExp][] = [
      ["not json", /not valid JSON/],
      [{ ...valid, version: 2 }, /version/],
      [{ ...valid, keys: [] }, /non-empty/],
      [{ ...valid, current: 2 }, /current does not name/],
      [{ ...valid, keys: [{ ...valid.keys[0], key: key.slice(2) }] }, /keys\[0\]\.key/],
      [{ ...valid, keys: [{ ...valid.keys[0], key: key.toUpperCase() }] }, /keys\[0\]\.key/],
      [{ ...valid, keys: [valid.keys[0], valid.keys[0]] }, /duplicate/],
      [{ ...valid, keys: [{ ...valid.keys[0], destroyed: true }] }, /still has key material/],
      [
        { ...valid, keys: [{ id: 1, createdAt: "2025-01-01T00:00:00.000Z", destroyed: true }] },
        /destroyed key/,
      ],
      [{ ...valid, extra: 1 }, /unknown field/],
      [{ ...valid, keys: [{ ...valid.keys[0], createdAt: "yesterday" }] }, /createdAt/],
      // JSON.parse would keep the second "current" (naming no key) or the second "keys" silently.
      [`{"current":1,${JSON.stringify(valid).slice(1)}`, /repeats a key \(line 1 column \d+\)/],
      [`{"version":1,"keys":[{"id":1,"key":"${key}","key":"${key}"}]}`, /repeats a key/],
    ];
    for (const [content, pattern] of cases) {
      const path = newPath();
      writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content), { mode: 0o600 });
      const error = await KeyRing.load(path).catch((e: unknown) => e);
      expect(error, String(pattern)).toBeInstanceOf(KeyFileError);
      expect((error as Error).message).toMatch(pattern);
      expect((error as Error).message).not.toContain(key.slice(0, 16));
    }
  });
});

describe("envelopes", () => {
  it("round-trip any plaintext, with a fresh nonce each time", async () => {
    const ring = await KeyRing.create(newPath());
    for (const size of [0, 1, 15, 16, 17, 1000]) {
      const plaintext = new Uint8Array(size).map((_, i) => i * 7);
      const envelope = ring.encrypt(plaintext, CONTEXT);
      expect(Object.keys(envelope).sort()).toEqual(["ciphertext", "keyId", "nonce", "tag", "v"]);
      expect(Buffer.from(envelope.nonce, "base64")).toHaveLength(12);
      expect(Buffer.from(envelope.tag, "base64")).toHaveLength(16);
      expect(ring.decrypt(envelope, CONTEXT)).toEqual(plaintext);
    }
    const a = ring.encrypt(PLAINTEXT, CONTEXT);
    const b = ring.encrypt(PLAINTEXT, CONTEXT);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(Buffer.from(a.ciphertext, "base64").toString()).not.toContain("1234");
  });

  it("a flipped bit anywhere in the ciphertext, tag or nonce fails to decrypt", async () => {
    const ring = await KeyRing.create(newPath());
    const envelope = ring.encrypt(PLAINTEXT, CONTEXT);
    for (let bit = 0; bit < PLAINTEXT.length * 8; bit++) {
      expectDecryptError(
        ring,
        { ...envelope, ciphertext: flipBit(envelope.ciphertext, bit) },
        CONTEXT,
        "authentication",
      );
    }
    for (let bit = 0; bit < 128; bit++) {
      expectDecryptError(ring, { ...envelope, tag: flipBit(envelope.tag, bit) }, CONTEXT, "authentication");
    }
    for (let bit = 0; bit < 96; bit++) {
      expectDecryptError(
        ring,
        { ...envelope, nonce: flipBit(envelope.nonce, bit) },
        CONTEXT,
        "authentication",
      );
    }
    expect(text(ring.decrypt(envelope, CONTEXT))).toBe(SECRET_TEXT);
  });

  it("the wrong dataset, epoch, purpose or key id fails to decrypt", async () => {
    const ring = await KeyRing.create(newPath());
    const envelope = ring.encrypt(PLAINTEXT, CONTEXT);
    expectDecryptError(ring, envelope, { ...CONTEXT, datasetId: "wiki-editt" }, "authentication");
    expectDecryptError(ring, envelope, { ...CONTEXT, epoch: 2 }, "authentication");
    expectDecryptError(ring, envelope, { ...CONTEXT, epoch: 4 }, "authentication");
    expectDecryptError(ring, envelope, { ...CONTEXT, purpose: "salts" }, "authentication");
    await ring.rotate();
    expectDecryptError(ring, { ...envelope, keyId: 2 }, CONTEXT, "authentication");
    expectDecryptError(ring, { ...envelope, keyId: 9 }, CONTEXT, "unknown-key");
    expect(() => ring.decrypt(envelope, { ...CONTEXT, epoch: -1 })).toThrow(RangeError);
    expect(() => ring.encrypt(PLAINTEXT, { ...CONTEXT, datasetId: "../x" })).toThrow(TypeError);
    expect(() => ring.encrypt(PLAINTEXT, { ...CONTEXT, purpose: "" })).toThrow(TypeError);
  });

  it("swapped ciphertexts between envelopes fail to decrypt", async () => {
    const ring = await KeyRing.create(newPath());
    const records = ring.encrypt(PLAINTEXT, CONTEXT);
    const other = ring.encrypt(new TextEncoder().encode("user 9999 edited 1 page"), CONTEXT);
    expectDecryptError(ring, { ...records, ciphertext: other.ciphertext });
    expectDecryptError(ring, { ...records, ciphertext: other.ciphertext, tag: other.tag });
    expectDecryptError(ring, { ...records, nonce: other.nonce });
    // Whole envelopes swapped between datasets, epochs or purposes.
    const salts = ring.encrypt(PLAINTEXT, { ...CONTEXT, purpose: "salts" });
    expectDecryptError(ring, salts, CONTEXT);
    const nextEpoch = ring.encrypt(PLAINTEXT, { ...CONTEXT, epoch: 4 });
    expectDecryptError(ring, nextEpoch, CONTEXT);
    const otherDataset = ring.encrypt(PLAINTEXT, { ...CONTEXT, datasetId: "census" });
    expectDecryptError(ring, otherDataset, CONTEXT);
  });

  it("malformed envelopes are refused as malformed", async () => {
    const ring = await KeyRing.create(newPath());
    const envelope = ring.encrypt(PLAINTEXT, CONTEXT);
    const shortTag = Buffer.from(envelope.tag, "base64").subarray(0, 12).toString("base64");
    const cases: unknown[] = [
      null,
      [],
      "envelope",
      { ...envelope, v: 2 },
      { ...envelope, keyId: 0 },
      { ...envelope, keyId: "1" },
      { ...envelope, tag: shortTag },
      { ...envelope, nonce: `${envelope.nonce} ` },
      { ...envelope, ciphertext: `${envelope.ciphertext}!` },
      { ...envelope, nonce: Buffer.alloc(16).toString("base64") },
      { ...envelope, extra: true },
      (({ tag: _tag, ...rest }: Envelope) => rest)(envelope),
    ];
    for (const candidate of cases) expectDecryptError(ring, candidate, CONTEXT, "malformed");
  });

  it("never repeats a nonce in 10^5 encryptions", async () => {
    const ring = await KeyRing.create(newPath());
    const nonces = new Set<string>();
    const one = new Uint8Array([1]);
    for (let i = 0; i < 100_000; i++) nonces.add(ring.encrypt(one, CONTEXT).nonce);
    expect(nonces.size).toBe(100_000);
  });

  it("the nonce guard throws on a repeat and at the per-key limit", () => {
    const guard = new NonceGuard(4, 10);
    const nonce = (n: number) => new Uint8Array(12).fill(n);
    for (let i = 0; i < 4; i++) guard.admit(nonce(i));
    expect(() => guard.admit(nonce(2))).toThrow(/nonce repeated/);
    guard.admit(nonce(4)); // evicts nonce 0 from the bounded memory
    guard.admit(nonce(0));
    for (let i = 5; i < 9; i++) guard.admit(nonce(i));
    expect(() => guard.admit(nonce(20))).toThrow(RangeError);
  });
});

describe("rotation and destruction", () => {
  it("after rotation old data stays readable and re-encrypts to the new key; the file stays 0600", async () => {
    const path = newPath();
    const ring = await KeyRing.create(path);
    const old = ring.encrypt(PLAINTEXT, CONTEXT);
    expect(await ring.rotate()).toBe(2);
    expect(ring.currentKeyId).toBe(2);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(text(ring.decrypt(old, CONTEXT))).toBe(SECRET_TEXT);
    const fresh = ring.encrypt(PLAINTEXT, CONTEXT);
    expect(fresh.keyId).toBe(2);
    const moved = ring.reencrypt(old, CONTEXT);
    expect(moved.keyId).toBe(2);
    expect(text(ring.decrypt(moved, CONTEXT))).toBe(SECRET_TEXT);
    expectDecryptError(ring, moved, { ...CONTEXT, epoch: 4 });
    const reloaded = await KeyRing.load(path);
    expect(reloaded.currentKeyId).toBe(2);
    expect(text(reloaded.decrypt(old, CONTEXT))).toBe(SECRET_TEXT);
    expect(text(reloaded.decrypt(moved, CONTEXT))).toBe(SECRET_TEXT);
    expect(readdirSync(scratch).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("concurrent rotations are serialised and all persisted", async () => {
    const path = newPath();
    const ring = await KeyRing.create(path);
    const ids = await Promise.all([ring.rotate(), ring.rotate(), ring.rotate()]);
    expect(ids.sort()).toEqual([2, 3, 4]);
    expect((await KeyRing.load(path)).keys().map((key) => key.id)).toEqual([1, 2, 3, 4]);
  });

  it("a destroyed key makes its data unreadable, in memory and after reload", async () => {
    const path = newPath();
    const ring = await KeyRing.create(path);
    const old = ring.encrypt(PLAINTEXT, CONTEXT);
    await ring.rotate();
    const kept = ring.reencrypt(ring.encrypt(PLAINTEXT, CONTEXT), CONTEXT);
    await expect(ring.destroy(2)).rejects.toThrow(/current; rotate first/);
    await expect(ring.destroy(7)).rejects.toThrow(RangeError);
    await ring.destroy(1);
    await ring.destroy(1); // idempotent
    expectDecryptError(ring, old, CONTEXT, "destroyed-key");
    expect(() => ring.reencrypt(old, CONTEXT)).toThrow(DecryptError);
    const content = JSON.parse(readFileSync(path, "utf8"));
    expect(content.keys[0]).toEqual({ id: 1, createdAt: expect.any(String), destroyed: true });
    const reloaded = await KeyRing.load(path);
    expectDecryptError(reloaded, old, CONTEXT, "destroyed-key");
    expect(text(reloaded.decrypt(kept, CONTEXT))).toBe(SECRET_TEXT);
    expect(reloaded.keys()).toEqual([
      { id: 1, createdAt: expect.any(String), destroyed: true, current: false },
      { id: 2, createdAt: expect.any(String), destroyed: false, current: true },
    ]);
  });

  it("another key file cannot open the data", async () => {
    const ours = await KeyRing.create(newPath());
    const theirs = await KeyRing.create(newPath());
    const envelope = ours.encrypt(PLAINTEXT, CONTEXT);
    expectDecryptError(theirs, envelope, CONTEXT, "authentication");
    await theirs.rotate();
    expectDecryptError(theirs, theirs.reencrypt(theirs.encrypt(PLAINTEXT, CONTEXT), CONTEXT), {
      ...CONTEXT,
      epoch: 9,
    });
  });
});
