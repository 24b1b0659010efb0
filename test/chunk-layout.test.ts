/**
 * Unit tests of src/dataset/chunk-layout.ts (design.md 7.1-7.2): domains from the schema, per-leaf packing,
 * layout rules, salts, the ragged in-chunk tree, the fixed-depth dataset tree and its paths, and a pinned
 * known-answer root (any faster implementation of the commitment must reproduce it). That the circuit computes
 * the same roots is shown by test/circuit-chunk.test.ts (honest chunk witnesses recompute `root`).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import {
  chunkCountOf,
  datasetTree,
  defaultLeafRecords,
  domainFromToken,
  emptySubtreeRoots,
  fieldDomains,
  leafElementCount,
  makeChunkLayout,
  packLeaf,
  subtreeRoot,
  TAG_DATASET2,
  TAG_NODE2,
} from "../src/dataset/chunk-layout.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { deriveLeafSalts, deriveSalts } from "../src/dataset/salt.ts";
import { parseSchema } from "../src/dataset/schema.ts";

let poseidon: PoseidonEx;
beforeAll(async () => {
  poseidon = await getPoseidon();
});

const tags = (...tokens: string[]) => tokens.map(domainFromToken);
const standard = tags(...Array<string>(8).fill("u32"));

describe("chunk layout v2", () => {
  it("takes field domains from the signed schema", () => {
    const schema = parseSchema({
      fields: [
        { name: "id", type: "uint", bits: 20 },
        { name: "country", type: "enum", values: ["a", "b", "c", "d", "e", "f"] },
        { name: "only", type: "enum", values: ["x"] },
        { name: "bot", type: "bool" },
      ],
    });
    expect(fieldDomains(schema)).toEqual([
      { max: 2n ** 20n - 1n, bits: 20, token: "u20" },
      { max: 5n, bits: 3, token: "e6" },
      { max: 0n, bits: 0, token: "e1" },
      { max: 1n, bits: 1, token: "b" },
    ]);
    expect(() => domainFromToken("u65")).toThrow(RangeError);
    expect(() => domainFromToken("e0")).toThrow(RangeError);
  });

  it("packs whole values greedily into 253-bit elements", () => {
    expect(leafElementCount(standard, 8)).toBe(10); // 7 x 32 bits per element
    expect(defaultLeafRecords(standard, 128)).toBe(8);
    expect(defaultLeafRecords(tags("u16", "e6", "b"), 128)).toBe(128); // 20 bits/record: 12 per element
    const domains = tags("u8", "b", "z", "e3");
    expect(
      packLeaf(domains, [
        [5n, 1n, 0n, 2n],
        [255n, 0n, 0n, 1n],
      ]),
    ).toEqual([5n | (1n << 8n) | (2n << 9n) | (255n << 11n) | (0n << 19n) | (1n << 20n)]);
    expect(() => packLeaf(domains, [[5n, 2n, 0n, 0n]])).toThrow(/outside 0..1/);
    expect(() => packLeaf(domains, [[5n, 1n, 1n, 0n]])).toThrow(/outside 0..0/);
    expect(() => packLeaf(domains, [[5n, 1n, 0n, 3n]])).toThrow(/outside 0..2/);
  });

  it("validates the layout and counts chunks (a small dataset is one chunk)", () => {
    expect(() => makeChunkLayout({ chunkSize: 12, leafRecords: 4, treeDepth: 2 }, standard)).toThrow(
      /power of two/,
    );
    expect(() => makeChunkLayout({ chunkSize: 16, leafRecords: 16, treeDepth: 2 }, standard)).toThrow(
      /at most 15/,
    );
    expect(() => makeChunkLayout({ chunkSize: 2 ** 16, leafRecords: 8, treeDepth: 5 }, standard)).toThrow(
      /2\^32/,
    );
    const layout = makeChunkLayout({ chunkSize: 16, leafRecords: 8, treeDepth: 1 }, standard);
    expect([0, 1, 16, 17, 256].map((n) => chunkCountOf(layout, n))).toEqual([1, 1, 1, 2, 16]);
    expect(() => chunkCountOf(layout, 257)).toThrow(/treeDepth 1 holds 16/);
  });

  it("derives one salt per leaf, distinct from the v1 slot salts", () => {
    const secret = new Uint8Array(32).fill(3);
    const leaves = deriveLeafSalts(secret, "d", 1, 0, 4);
    expect(deriveLeafSalts(secret, "d", 1, 2, 2)).toEqual(leaves.slice(2));
    expect(new Set([...leaves, ...deriveSalts(secret, "d", 1, 4)]).size).toBe(8);
    expect(deriveLeafSalts(secret, "d", 2, 0, 4)).not.toEqual(leaves);
    for (const salt of leaves) expect(salt < 1n << 248n).toBe(true);
  });

  it("hashes the ragged in-chunk tree and the fixed-depth dataset tree with their tags", () => {
    const leaves = Array.from({ length: 32 }, (_, i) => BigInt(i + 1));
    const nodes = [poseidon(leaves.slice(0, 16), TAG_NODE2), poseidon(leaves.slice(16), TAG_NODE2)];
    expect(subtreeRoot(poseidon, leaves)).toBe(poseidon(nodes, TAG_NODE2));
    expect(subtreeRoot(poseidon, [7n])).toBe(7n);
    const empty = emptySubtreeRoots(poseidon, 2);
    const roots = [11n, 12n, 13n];
    const tree = datasetTree(poseidon, roots, 2);
    const bottom = [...roots, ...Array<bigint>(13).fill(0n)];
    const top = [poseidon(bottom, TAG_DATASET2), ...Array<bigint>(15).fill(empty[1] as bigint)];
    expect(tree.root).toBe(poseidon(top, TAG_DATASET2));
    expect(tree.path(2)).toEqual([bottom, top]);
  });

  it("reproduces the pinned known-answer root", () => {
    const layout = makeChunkLayout({ chunkSize: 4, leafRecords: 2, treeDepth: 2 }, tags("u16", "e6", "b"));
    const records = Array.from({ length: 9 }, (_, i) => [BigInt(100 + i), BigInt(i % 6), BigInt(i % 2)]);
    const committed = commitChunks(poseidon, {
      layout,
      domains: tags("u16", "e6", "b"),
      keyField: 0,
      records,
      secret: new Uint8Array(32).fill(1),
      datasetId: "kat",
      epoch: 1,
    });
    expect(committed.chunkCount).toBe(3);
    expect(committed.chunks.map((chunk) => chunk.realRecords)).toEqual([4, 4, 1]);
    expect(committed.root.toString()).toBe(
      "16840945927996848451902439795544155483355783831491441750189012725417886227216",
    );
  });
});
