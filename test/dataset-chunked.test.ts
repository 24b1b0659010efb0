/**
 * @module test/dataset-chunked
 *
 * The streaming chunked commitment (src/dataset/chunked.ts) and its encrypted store
 * (src/storage/chunk-store.ts) against the in-memory reference of design.md section 7 (`commitChunks` in
 * src/dataset/chunk-layout.ts, the TypeScript twin of the chunk circuit's commitment), with circomlibjs'
 * Poseidon as an independent hash: same chunk roots and dataset root for datasets of 0, 1, S-1, S, S+1 and
 * 3S+5 records; a pinned known-answer root; the version-2 manifest (signed, chunkCount checked, version 1
 * still accepted by `parseAnyManifest`); bad rows and unsorted keys reject the whole load and leave nothing
 * on disk; stored chunks load one at a time with the reference's slots, salts and Merkle path, and a swapped,
 * foreign or corrupted file is refused.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPoseidon } from "circomlibjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { fieldDomains } from "../src/dataset/chunk-layout.ts";
import { chunkLayoutFor, commitFileChunked } from "../src/dataset/chunked.ts";
import type { PoseidonEx } from "../src/dataset/commitment.ts";
import { DatasetError, ManifestError } from "../src/dataset/errors.ts";
import { buildManifest, parseAnyManifest, parseManifest, verifyManifest } from "../src/dataset/manifest.ts";
import { generateOperatorKey, signManifest } from "../src/dataset/manifest-sign.ts";
import { parseSchema, type Schema } from "../src/dataset/schema.ts";
import { ChunkStoreError, ChunkStoreReader, commitFileToChunkStore } from "../src/storage/chunk-store.ts";
import { KeyRing } from "../src/storage/keyring.ts";

/** A Wikimedia-like schema: a uint key, enums, a bool and uints (several records per packed element). */
const schema: Schema = parseSchema({
  key: "userId",
  fields: [
    { name: "userId", type: "uint", bits: 32 },
    { name: "wiki", type: "enum", values: ["enwiki", "dewiki", "frwiki", "eswiki", "jawiki", "commonswiki"] },
    { name: "activity", type: "enum", values: ["1-4", "5-24", "25-99", "100+"] },
    { name: "edits", type: "uint", bits: 20 },
    { name: "bot", type: "bool" },
  ],
});
const WIKIS = ["enwiki", "dewiki", "frwiki", "eswiki", "jawiki", "commonswiki"];
const ACTIVITY = ["1-4", "5-24", "25-99", "100+"];
const S = 8;
/** Known answers for csvOf(11) under `base()` (S = 8, B = 8, K = 4): also in /work/wt/_brief/LAYOUT.md. */
const KAT_CHUNK_ROOTS = [
  9668847639181653937908142874377347044577381036502563304709889117145871047068n,
  7624869988561224710069413087892244172803400850580974667879310301287796948847n,
];
const KAT_ROOT = 6784463633262119266907226724110188288688192787126789905366203601686934026166n;
const secret = new Uint8Array(32).map((_, i) => i + 1);
const operator = generateOperatorKey();

function csvOf(count: number): string {
  const rows = Array.from({ length: count }, (_, i) =>
    [
      1000 + 7 * i,
      WIKIS[i % 6],
      ACTIVITY[(i * 3) % 4],
      (i * 7919) % 1_000_000,
      i % 5 === 0 ? "true" : "false",
    ].join(","),
  );
  return `userId,wiki,activity,edits,bot\n${rows.map((row) => `${row}\n`).join("")}`;
}

function encoded(count: number): bigint[][] {
  return Array.from({ length: count }, (_, i) => [
    BigInt(1000 + 7 * i),
    BigInt(i % 6),
    BigInt((i * 3) % 4),
    BigInt((i * 7919) % 1_000_000),
    i % 5 === 0 ? 1n : 0n,
  ]);
}

describe("chunked commitment", () => {
  let dir: string;
  let reference: PoseidonEx;
  let ring: KeyRing;
  const base = () => ({
    datasetId: "wiki-test",
    epoch: 2,
    schema,
    layout: { chunkSize: S },
    secret,
    operatorSecretKey: operator.secretKey,
    circuits: ["chunk-test"],
    createdAt: "2026-12-01T00:00:00.000Z",
  });
  /** The in-memory reference commitment of `count` records under `base()`'s dataset id and epoch. */
  const referenceChunks = (layout: Parameters<typeof commitChunks>[1]["layout"], count: number) =>
    commitChunks(reference, {
      layout,
      domains: fieldDomains(schema),
      keyField: 0,
      records: encoded(count),
      secret,
      datasetId: "wiki-test",
      epoch: 2,
    });
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "zktally-chunked-"));
    const circomlib = await buildPoseidon();
    reference = (inputs, state) => circomlib.F.toObject(circomlib([...inputs], state, 1));
    ring = await KeyRing.create(join(dir, "keys.json"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([0, 1, S - 1, S, S + 1, 3 * S + 5])(
    "streams %i records to the reference's chunk roots and root (circomlibjs Poseidon)",
    async (count) => {
      const roots: bigint[] = [];
      const result = await commitFileChunked(await file(`n${count}.csv`, csvOf(count)), {
        ...base(),
        onChunk: (chunk) => {
          expect(chunk.chunkIndex).toBe(roots.length);
          roots.push(chunk.chunkRoot);
        },
      });
      const expected = referenceChunks(result.layout, count);
      expect(result.root).toBe(expected.root);
      expect(roots).toEqual(expected.chunks.map((chunk) => chunk.chunkRoot));
      expect(result.chunkRoots).toEqual(roots);
      expect(result.chunkCount).toBe(Math.max(1, Math.ceil(count / S)));
      expect(result.manifest).toMatchObject({
        version: 2,
        recordCount: count,
        chunkCount: result.chunkCount,
      });
    },
  );

  it("pins a known-answer root (shared with the chunk circuit's tests)", async () => {
    const result = await commitFileChunked(await file("kat.csv", csvOf(S + 3)), base());
    expect(result.layout).toEqual({ version: 2, chunkSize: 8, leafRecords: 8, treeDepth: 4 });
    expect(result.chunkRoots).toEqual(KAT_CHUNK_ROOTS);
    expect(result.root).toBe(KAT_ROOT);
  });

  it("signs a version-2 manifest that verifies; version 1 stays accepted, chunkCount is checked", async () => {
    const { manifest } = await commitFileChunked(await file("m.csv", csvOf(20)), base());
    expect(verifyManifest(manifest, operator.publicKey)).toBe(true);
    expect(parseAnyManifest(JSON.parse(JSON.stringify(manifest)))).toEqual(manifest);
    expect(() => parseManifest(manifest)).toThrow(ManifestError);
    const { signature: _signature, operatorKey: _key, ...unsigned } = manifest;
    expect(() => signManifest({ ...unsigned, chunkCount: 2 }, operator.secretKey)).toThrow(
      "manifest chunkCount: must be max(1, ceil(recordCount / chunkSize)) = 3 (got 2)",
    );
    expect(verifyManifest({ ...manifest, recordCount: 21 })).toBe(false);
    const v1 = signManifest(
      buildManifest({
        datasetId: "v1",
        epoch: 1,
        schema,
        recordCount: 3,
        layout: { capacity: 64, fields: 8, width: 32, leafRecords: 4, arity: 16 },
        root: 5n,
        circuits: ["aggregate-64x8x4"],
      }),
      operator.secretKey,
    );
    expect(parseAnyManifest(v1)).toEqual(v1);
    expect(verifyManifest(v1, operator.publicKey)).toBe(true);
  });

  it("rejects a bad row and unsorted keys with file, line and column, signing nothing", async () => {
    const bad = csvOf(30).replace("\n1070,", "\n1070x,");
    await expect(commitFileChunked(await file("bad.csv", bad), base())).rejects.toThrow(
      /bad\.csv:12: column "userId": malformed number/,
    );
    const unsorted = `${csvOf(3)}999,enwiki,1-4,1,false\n`;
    const error = await commitFileChunked(await file("unsorted.csv", unsorted), base()).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect([error.line, error.column]).toEqual([5, "userId"]);
    expect(error.reason).toMatch(/sort the input by userId/);
  });

  it("chooses the largest leaf that fits 15 elements by default", () => {
    expect(chunkLayoutFor(schema, { chunkSize: 128 })).toEqual({
      version: 2,
      chunkSize: 128,
      leafRecords: 32,
      treeDepth: 4,
    });
  });

  describe("chunk store", () => {
    const count = 3 * S + 5;
    let stored: string;

    beforeAll(async () => {
      stored = join(dir, "store", "wiki-test", "2");
      await commitFileToChunkStore(await file("store.csv", csvOf(count)), stored, ring, base());
    });

    it("loads each chunk with the reference's slots, salts, root and path", async () => {
      const reader = await ChunkStoreReader.open(stored, ring, operator.publicKey);
      const expected = referenceChunks(reader.layout, count);
      for (const want of expected.chunks) {
        const chunk = await reader.loadChunk(want.chunkIndex);
        expect(chunk.values).toEqual(want.values);
        expect(chunk.salts).toEqual(want.salts);
        expect(chunk.realRecords).toBe(want.realRecords);
        expect(chunk.chunkRoot).toBe(want.chunkRoot);
        expect(chunk.path).toEqual(want.path);
      }
      await expect(reader.loadChunk(4)).rejects.toThrow(RangeError);
    });

    it("stores only envelopes besides the public manifest", async () => {
      const chunkText = await readFile(join(stored, "chunks", "00000000.env"), "utf8");
      expect(Object.keys(JSON.parse(chunkText)).sort()).toEqual(["ciphertext", "keyId", "nonce", "tag", "v"]);
      expect(chunkText).not.toContain("1007");
    });

    it("refuses a chunk file moved to another index, and a corrupted index", async () => {
      const copy = join(dir, "swapped");
      await cp(stored, copy, { recursive: true });
      await cp(join(copy, "chunks", "00000001.env"), join(copy, "chunks", "00000002.env"));
      const reader = await ChunkStoreReader.open(copy, ring);
      await expect(reader.loadChunk(2)).rejects.toThrow(/00000002\.env is missing or does not decrypt/);
      await cp(join(copy, "chunks", "00000000.env"), join(copy, "index.env"));
      await expect(ChunkStoreReader.open(copy, ring)).rejects.toThrow(ChunkStoreError);
    });

    it("never overwrites a stored epoch, and leaves nothing behind after a bad row", async () => {
      const path = await file("again.csv", csvOf(3));
      await expect(commitFileToChunkStore(path, stored, ring, base())).rejects.toThrow(/already exists/);
      const target = join(dir, "store", "wiki-test", "3");
      const bad = await file("late-error.csv", `${csvOf(40)}1,enwiki,1-4,1,maybe\n`);
      await expect(commitFileToChunkStore(bad, target, ring, { ...base(), epoch: 3 })).rejects.toThrow(
        /late-error\.csv:42: column "bot"/,
      );
      expect((await readdir(join(dir, "store", "wiki-test"))).sort()).toEqual(["2"]);
    });
  });
});
