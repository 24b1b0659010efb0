/**
 * RFC 6962 Merkle tree: the Certificate Transparency reference vectors (google/certificate-transparency,
 * cpp/merkletree/merkle_tree_test.cc: 8 leaves, roots of every prefix, inclusion and consistency proofs),
 * a literal transcription of the RFC definitions over node:crypto as an independent reference for sizes
 * 1..64, and mangled proofs.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  consistencyProof,
  EMPTY_ROOT,
  fromHex,
  inclusionProof,
  leafHash,
  nodeHash,
  rangeRootFrom,
  toHex,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from "../src/audit/merkle.ts";

const hex = (bytes: Uint8Array) => toHex(bytes);
const unhex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));

const CT_DATA = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(unhex);
const CT_LEAVES = CT_DATA.map(leafHash);
/** CT_ROOTS[n] = MTH of the first n leaves. */
const CT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
/** [leaf index (0-based), tree size, path]. */
const CT_INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [
    0,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    5,
    8,
    [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [
    1,
    5,
    [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
];
/** [old size, new size, proof]. */
const CT_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    6,
    8,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [
    2,
    5,
    [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
];

// --- Independent reference: RFC 6962 section 2.1 transcribed literally, over data, with node:crypto. ---
const sha = (...parts: Uint8Array[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};
const split = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function refMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Uint8Array.of(0), d[0]!);
  const k = split(d.length);
  return sha(Uint8Array.of(1), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  const n = d.length;
  if (m === n) return b ? [] : [refMth(d)];
  const k = split(n);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

const N = 64;
const DATA = Array.from({ length: N }, (_, i) => new TextEncoder().encode(`entry ${i} ${"x".repeat(i % 7)}`));
const LEAVES = DATA.map(leafHash);
const ROOTS = Array.from({ length: N + 1 }, (_, n) => treeRoot(LEAVES.slice(0, n)));

describe("RFC 6962 reference vectors", () => {
  it("hashes leaves and nodes with the 0x00 / 0x01 prefixes", () => {
    expect(hex(leafHash(new Uint8Array(0)))).toBe(CT_ROOTS[1]);
    expect(hex(EMPTY_ROOT)).toBe(CT_ROOTS[0]);
    expect(hex(nodeHash(CT_LEAVES[0]!, CT_LEAVES[1]!))).toBe(CT_ROOTS[2]);
  });

  it("gives the published root for every prefix of the 8-leaf tree", () => {
    for (let n = 0; n <= 8; n++) expect(hex(treeRoot(CT_LEAVES.slice(0, n))), `size ${n}`).toBe(CT_ROOTS[n]);
  });

  it("gives the published inclusion proofs, and they verify", () => {
    for (const [index, size, path] of CT_INCLUSION) {
      const leaves = CT_LEAVES.slice(0, size);
      expect(inclusionProof(leaves, index).map(hex), `leaf ${index} of ${size}`).toEqual(path);
      expect(verifyInclusion(CT_LEAVES[index]!, index, size, path.map(unhex), unhex(CT_ROOTS[size]!))).toBe(
        true,
      );
    }
  });

  it("gives the published consistency proofs, and they verify", () => {
    for (const [oldSize, newSize, path] of CT_CONSISTENCY) {
      const leaves = CT_LEAVES.slice(0, newSize);
      expect(consistencyProof(leaves, oldSize).map(hex), `${oldSize} -> ${newSize}`).toEqual(path);
      const ok = verifyConsistency(
        oldSize,
        newSize,
        unhex(CT_ROOTS[oldSize]!),
        unhex(CT_ROOTS[newSize]!),
        path.map(unhex),
      );
      expect(ok, `${oldSize} -> ${newSize}`).toBe(true);
    }
  });
});

describe("agreement with a literal transcription of the RFC, sizes 1..64", () => {
  it("roots agree", () => {
    for (let n = 0; n <= N; n++) expect(hex(ROOTS[n]!)).toBe(hex(refMth(DATA.slice(0, n))));
  });

  it("every inclusion proof agrees and verifies; it fails for any other leaf, index or root", () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(LEAVES.slice(0, n), m);
        expect(proof.map(hex)).toEqual(refPath(m, DATA.slice(0, n)).map(hex));
        expect(verifyInclusion(LEAVES[m]!, m, n, proof, ROOTS[n]!)).toBe(true);
        expect(verifyInclusion(LEAVES[(m + 1) % N]!, m, n, proof, ROOTS[n]!)).toBe(false);
        if (n > 1) expect(verifyInclusion(LEAVES[m]!, (m + 1) % n, n, proof, ROOTS[n]!)).toBe(false);
        expect(verifyInclusion(LEAVES[m]!, m, n, proof, ROOTS[n - 1]!)).toBe(false);
      }
    }
  });

  it("every consistency proof agrees and verifies; it fails against another old or new root", () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = consistencyProof(LEAVES.slice(0, n), m);
        const reference = m === 0 || m === n ? [] : refSubproof(m, DATA.slice(0, n), true);
        expect(proof.map(hex), `${m} -> ${n}`).toEqual(reference.map(hex));
        expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, proof), `${m} -> ${n}`).toBe(true);
        if (m > 0 && m < n) {
          expect(verifyConsistency(m, n, ROOTS[m - 1]!, ROOTS[n]!, proof)).toBe(false);
          expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n - 1]!, proof)).toBe(false);
        }
      }
    }
  });

  it("folds a root from complete subtrees like MTH", () => {
    const subtree = (level: number, index: number) =>
      treeRoot(LEAVES.slice(index * 2 ** level, (index + 1) * 2 ** level));
    for (let n = 1; n <= N; n++) expect(hex(rangeRootFrom(subtree, 0, n))).toBe(hex(ROOTS[n]!));
    expect(hex(rangeRootFrom(subtree, 32, 45))).toBe(hex(treeRoot(LEAVES.slice(32, 45))));
    expect(() => rangeRootFrom(subtree, 3, 9)).toThrow(RangeError);
  });
});

describe("mangled proofs are rejected, never thrown on", () => {
  it("inclusion: flipped bit, dropped, extra or swapped hashes, out-of-range index", () => {
    for (let n = 2; n <= 40; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(LEAVES.slice(0, n), m);
        const flipped = proof.map((h) => h.slice());
        flipped[flipped.length - 1]![3]! ^= 0x10;
        expect(verifyInclusion(LEAVES[m]!, m, n, flipped, ROOTS[n]!)).toBe(false);
        expect(verifyInclusion(LEAVES[m]!, m, n, proof.slice(0, -1), ROOTS[n]!)).toBe(false);
        expect(verifyInclusion(LEAVES[m]!, m, n, [...proof, LEAVES[0]!], ROOTS[n]!)).toBe(false);
        if (proof.length >= 2) {
          const swapped = [proof[1]!, proof[0]!, ...proof.slice(2)];
          expect(verifyInclusion(LEAVES[m]!, m, n, swapped, ROOTS[n]!)).toBe(false);
        }
      }
    }
    const proof = inclusionProof(LEAVES.slice(0, 8), 3);
    expect(verifyInclusion(LEAVES[3]!, 8, 8, proof, ROOTS[8]!)).toBe(false);
    expect(verifyInclusion(LEAVES[3]!, -1, 8, proof, ROOTS[8]!)).toBe(false);
    expect(verifyInclusion(LEAVES[3]!, 3.5, 8, proof, ROOTS[8]!)).toBe(false);
    expect(verifyInclusion(LEAVES[3]!.slice(1), 3, 8, proof, ROOTS[8]!)).toBe(false);
    expect(verifyInclusion(LEAVES[3]!, 3, 8, [proof[0]!.slice(1), ...proof.slice(1)], ROOTS[8]!)).toBe(false);
    expect(verifyInclusion(LEAVES[3]!, 3, 8, "nope" as never, ROOTS[8]!)).toBe(false);
  });

  it("consistency: flipped bit, dropped, extra hashes, sizes out of order, trivial cases", () => {
    for (let n = 2; n <= 40; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(LEAVES.slice(0, n), m);
        const flipped = proof.map((h) => h.slice());
        flipped[0]![0]! ^= 0x01;
        expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, flipped)).toBe(false);
        expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, proof.slice(0, -1))).toBe(false);
        expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, [...proof, LEAVES[0]!])).toBe(false);
        expect(verifyConsistency(n, m, ROOTS[n]!, ROOTS[m]!, proof)).toBe(false);
      }
    }
    expect(verifyConsistency(5, 5, ROOTS[5]!, ROOTS[5]!, [])).toBe(true);
    expect(verifyConsistency(5, 5, ROOTS[5]!, ROOTS[6]!, [])).toBe(false);
    expect(verifyConsistency(5, 5, ROOTS[5]!, ROOTS[5]!, [LEAVES[0]!])).toBe(false);
    expect(verifyConsistency(0, 9, EMPTY_ROOT, ROOTS[9]!, [])).toBe(true);
    expect(verifyConsistency(0, 9, ROOTS[1]!, ROOTS[9]!, [])).toBe(false);
    expect(verifyConsistency(4, 9, ROOTS[4]!, ROOTS[9]!, [])).toBe(false);
  });

  it("generators refuse bad arguments with typed errors", () => {
    expect(() => inclusionProof(LEAVES.slice(0, 8), 8)).toThrow(RangeError);
    expect(() => inclusionProof(LEAVES.slice(0, 8), -1)).toThrow(RangeError);
    expect(() => consistencyProof(LEAVES.slice(0, 8), 9)).toThrow(RangeError);
    expect(() => treeRoot([new Uint8Array(31)])).toThrow(TypeError);
    expect(() => nodeHash(new Uint8Array(32), new Uint8Array(33))).toThrow(TypeError);
    expect(() => leafHash("x" as never)).toThrow(TypeError);
    expect(fromHex("zz")).toBeUndefined();
  });
});
