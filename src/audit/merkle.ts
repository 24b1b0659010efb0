/**
 * @module audit/merkle
 *
 * RFC 6962 (Certificate Transparency) Merkle tree hashing, proofs and proof verification, as pure functions.
 *
 * - `leafHash(d)  = SHA-256(0x00 || d)`, `nodeHash(l, r) = SHA-256(0x01 || l || r)` (RFC 6962 section 2.1);
 *   the prefixes domain-separate leaves from interior nodes, so a node can never be passed off as a leaf.
 * - `treeRoot` is MTH with the split at the largest power of two smaller than n; the empty tree hashes to
 *   SHA-256 of the empty string.
 * - `inclusionProof` is PATH(m, D[n]) (RFC 6962 section 2.1.1), `consistencyProof` is PROOF(m, D[n]) built
 *   with SUBPROOF (section 2.1.2); both verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2.
 *
 * Every function here takes *leaf hashes* (32-byte `Uint8Array`s), not entry bytes. The `...From` variants
 * take a `SubtreeHasher` instead of an array, so a store that caches complete subtrees (audit/log) produces
 * the same proofs with O(log n) lookups.
 *
 * Security caveats: the generators trust their input (they are what the log operator runs); the verifiers
 * are what untrusted proofs go through, so they never throw on proof data: any malformed hash, size or
 * proof length makes them return false. Sizes are JavaScript numbers and must be safe integers; bit
 * manipulation uses arithmetic (not 32-bit `>>`) so sizes above 2^31 are handled.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

export const HASH_BYTES = 32;

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** MTH of the leaves in [start, end), for the ranges the RFC recursion visits (start aligned, end > start). */
export type SubtreeHasher = (start: number, end: number) => Uint8Array;

/** SHA-256(0x00 || data): the hash of a log entry. */
export function leafHash(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError("leafHash: data must be a Uint8Array");
  const buffer = new Uint8Array(data.length + 1);
  buffer[0] = 0x00;
  buffer.set(data, 1);
  return sha256(buffer);
}

/** SHA-256(0x01 || left || right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertHash(left, "nodeHash: left");
  assertHash(right, "nodeHash: right");
  const buffer = new Uint8Array(1 + 2 * HASH_BYTES);
  buffer[0] = 0x01;
  buffer.set(left, 1);
  buffer.set(right, 1 + HASH_BYTES);
  return sha256(buffer);
}

/** MTH(D[n]) over leaf hashes. */
export function treeRoot(leaves: readonly Uint8Array[]): Uint8Array {
  assertLeaves(leaves);
  return leaves.length === 0 ? EMPTY_ROOT : naiveHasher(leaves)(0, leaves.length);
}

/** PATH(index, D[n]) with n = leaves.length: the audit path of one leaf, bottom-up. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  assertLeaves(leaves);
  return inclusionProofFrom(naiveHasher(leaves), index, leaves.length);
}

/** PROOF(oldSize, D[n]) with n = leaves.length (empty when oldSize is 0 or n). */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number): Uint8Array[] {
  assertLeaves(leaves);
  return consistencyProofFrom(naiveHasher(leaves), oldSize, leaves.length);
}

/** PATH(index, D[treeSize]) computed through `mth`; throws RangeError unless 0 <= index < treeSize. */
export function inclusionProofFrom(mth: SubtreeHasher, index: number, treeSize: number): Uint8Array[] {
  assertSize(treeSize, "treeSize");
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new RangeError(`inclusion proof: index must be an integer in [0, ${treeSize}) (got ${index})`);
  }
  const proof: Uint8Array[] = [];
  collectPath(mth, index, 0, treeSize, proof);
  return proof;
}

/** PROOF(oldSize, D[newSize]) computed through `mth`; throws RangeError unless 0 <= oldSize <= newSize. */
export function consistencyProofFrom(mth: SubtreeHasher, oldSize: number, newSize: number): Uint8Array[] {
  assertSize(newSize, "newSize");
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize) {
    throw new RangeError(`consistency proof: oldSize must be an integer in [0, ${newSize}] (got ${oldSize})`);
  }
  const proof: Uint8Array[] = [];
  // RFC 9162: nothing to prove from the empty tree or to the same tree.
  if (oldSize === 0 || oldSize === newSize) return proof;
  collectSubproof(mth, oldSize, 0, newSize, true, proof);
  return proof;
}

/** MTH(D[start:end]) folded from the complete subtrees `subtree(level, index)` that tile the range. */
export function rangeRootFrom(
  subtree: (level: number, index: number) => Uint8Array,
  start: number,
  end: number,
): Uint8Array {
  const parts: Uint8Array[] = [];
  let position = start;
  while (position < end) {
    const width = largestPowerOfTwoAtMost(end - position);
    if (position % width !== 0)
      throw new RangeError(`range [${start}, ${end}) is not aligned at ${position}`);
    parts.push(subtree(exactLog2(width), position / width));
    position += width;
  }
  // The RFC split puts complete subtrees left, so the range root folds right to left.
  let root = parts.pop();
  if (root === undefined) throw new RangeError(`range [${start}, ${end}) is empty`);
  for (let i = parts.length - 1; i >= 0; i--) root = nodeHash(parts[i] as Uint8Array, root);
  return root;
}

/** RFC 9162 section 2.1.3.2. False (never an exception) for any malformed argument. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(leaf) || !isHash(root) || !isHashList(proof)) return false;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) {
    return false;
  }
  let fn = index;
  let sn = treeSize - 1;
  let hash = leaf;
  for (const sibling of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      hash = nodeHash(sibling, hash);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      hash = nodeHash(hash, sibling);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(hash, root);
}

/** RFC 9162 section 2.1.4.2, plus the trivial cases (equal sizes, empty old tree). Never throws. */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isHash(oldRoot) || !isHash(newRoot) || !isHashList(proof)) return false;
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) {
    return false;
  }
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0 && equalBytes(oldRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}

/** The largest power of two strictly below n (n >= 2): the RFC 6962 split point. */
export function splitPoint(n: number): number {
  return largestPowerOfTwoAtMost(n - 1);
}

/** Constant-length byte comparison (hashes are public, so timing is not a concern; this is for clarity). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/** Lowercase or uppercase hex of exactly `bytes` bytes, or undefined. */
export function fromHex(text: unknown, bytes = HASH_BYTES): Uint8Array | undefined {
  if (typeof text !== "string" || text.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return hexToBytes(text);
}

function collectPath(mth: SubtreeHasher, m: number, start: number, end: number, out: Uint8Array[]): void {
  const n = end - start;
  if (n === 1) return;
  const k = splitPoint(n);
  if (m < k) {
    collectPath(mth, m, start, start + k, out);
    out.push(mth(start + k, end));
  } else {
    collectPath(mth, m - k, start + k, end, out);
    out.push(mth(start, start + k));
  }
}

function collectSubproof(
  mth: SubtreeHasher,
  m: number,
  start: number,
  end: number,
  isOriginalTree: boolean,
  out: Uint8Array[],
): void {
  const n = end - start;
  if (m === n) {
    if (!isOriginalTree) out.push(mth(start, end));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    collectSubproof(mth, m, start, start + k, isOriginalTree, out);
    out.push(mth(start + k, end));
  } else {
    collectSubproof(mth, m - k, start + k, end, false, out);
    out.push(mth(start, start + k));
  }
}

/** MTH straight from the definition, memoised per call site; fine for the array API. */
function naiveHasher(leaves: readonly Uint8Array[]): SubtreeHasher {
  const memo = new Map<string, Uint8Array>();
  const mth: SubtreeHasher = (start, end) => {
    if (end - start === 1) return leaves[start] as Uint8Array;
    const key = `${start}:${end}`;
    const cached = memo.get(key);
    if (cached) return cached;
    const k = splitPoint(end - start);
    const hash = nodeHash(mth(start, start + k), mth(start + k, end));
    memo.set(key, hash);
    return hash;
  };
  return mth;
}

function largestPowerOfTwoAtMost(n: number): number {
  let power = 1;
  while (power * 2 <= n) power *= 2;
  return power;
}

function exactLog2(power: number): number {
  let level = 0;
  for (let width = 1; width < power; width *= 2) level++;
  return level;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && largestPowerOfTwoAtMost(n) === n;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_BYTES;
}

function isHashList(value: unknown): value is Uint8Array[] {
  return Array.isArray(value) && value.every(isHash);
}

function assertHash(value: unknown, what: string): asserts value is Uint8Array {
  if (!isHash(value)) throw new TypeError(`${what} must be a ${HASH_BYTES}-byte Uint8Array`);
}

function assertLeaves(leaves: readonly Uint8Array[]): void {
  if (!Array.isArray(leaves)) throw new TypeError("leaves must be an array of leaf hashes");
  leaves.forEach((leaf, i) => {
    assertHash(leaf, `leaves[${i}]`);
  });
}

function assertSize(size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer (got ${size})`);
  }
}
