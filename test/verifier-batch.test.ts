/**
 * Tests for batch Groth16 verification (`src/verifier/batch.ts`): a random linear combination with
 * 128-bit scalars and one final exponentiation must accept a batch of valid proofs, catch a single
 * bad proof among many (and find it by bisection), resist errors crafted to cancel out under
 * predictable scalars, and reject malformed items with a typed error naming `items[i]...`.
 */
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BatchItem,
  findInvalidBatchItems,
  type PreparedVerifyingKey,
  parseProof,
  prepareVerifyingKey,
  type RandomBytes,
  VerifierInputError,
  verifyGroth16,
  verifyGroth16Batch,
} from "../src/verifier/index.ts";
import {
  buildVerifierFixture,
  g1Json,
  type ProofItem,
  rerandomize,
  type VerifierFixture,
} from "./fixtures/verifier/fixture.ts";

const SNARK_PROOFS = 6;
const BATCH_SIZE = 16;

let fixture: VerifierFixture;
let key: PreparedVerifyingKey;
/** BATCH_SIZE valid proofs: the snarkjs ones and re-randomised copies of them. */
let valid: BatchItem[];

beforeAll(async () => {
  fixture = await buildVerifierFixture(SNARK_PROOFS);
  key = prepareVerifyingKey(fixture.vkey);
  valid = Array.from({ length: BATCH_SIZE }, (_, i) => {
    const item = fixture.proofs[i % SNARK_PROOFS] as ProofItem;
    return i < SNARK_PROOFS ? item : rerandomize(item, key.key.delta, BigInt(1000 + i), BigInt(7 * i));
  });
});

afterAll(async () => {
  await fixture?.release();
});

function replaceItem(items: readonly BatchItem[], index: number, item: BatchItem): BatchItem[] {
  const copy = [...items];
  copy[index] = item;
  return copy;
}

/** The same valid item with public signal 1 changed: a well-formed proof of a false statement. */
function wrongSignal(item: BatchItem): BatchItem {
  const signals = [...(item.publicSignals as string[])];
  signals[1] = String(BigInt(signals[1] as string) + 1n);
  return { publicSignals: signals, proof: item.proof };
}

function negatedA(item: BatchItem): BatchItem {
  const proof = item.proof as ProofItem["proof"];
  return {
    publicSignals: item.publicSignals,
    proof: { ...proof, pi_a: g1Json(parseProof(proof).a.negate()) },
  };
}

function typedError(action: () => unknown): VerifierInputError {
  try {
    action();
  } catch (error) {
    if (error instanceof VerifierInputError) return error;
    throw error;
  }
  throw new Error("expected a VerifierInputError");
}

describe("batch verification", () => {
  it("accepts a batch of valid proofs (each also accepted by snarkjs and the single verifier)", async () => {
    for (const item of valid.slice(0, SNARK_PROOFS + 2)) {
      expect(await snarkjs.groth16.verify(fixture.vkey, item.publicSignals, item.proof)).toBe(true);
      expect(verifyGroth16(key, item.publicSignals, item.proof)).toBe(true);
    }
    expect(verifyGroth16Batch(key, valid)).toBe(true);
    expect(findInvalidBatchItems(key, valid)).toEqual([]);
  });

  it.each([0, BATCH_SIZE - 1])(
    "catches one bad proof at index %i among many and bisects to it",
    async (index) => {
      const bad = wrongSignal(valid[index] as BatchItem);
      expect(await snarkjs.groth16.verify(fixture.vkey, bad.publicSignals, bad.proof)).toBe(false);
      const items = replaceItem(valid, index, bad);
      expect(verifyGroth16Batch(key, items)).toBe(false);
      expect(findInvalidBatchItems(key, items)).toEqual([index]);
    },
  );

  it("finds several bad proofs of different kinds", () => {
    let items = replaceItem(valid, 3, wrongSignal(valid[3] as BatchItem));
    items = replaceItem(items, 4, negatedA(valid[4] as BatchItem));
    items = replaceItem(items, 11, fixture.otherProof); // valid, but for another key
    expect(verifyGroth16Batch(key, items)).toBe(false);
    expect(findInvalidBatchItems(key, items)).toEqual([3, 4, 11]);
  });

  it("needs unpredictable scalars: errors that cancel under equal scalars are caught with real randomness", () => {
    // C_5 + D and C_9 - D: with rho_5 == rho_9 the sum of rho_i·C_i is unchanged and the batch equation holds.
    const shift = bn254.G1.Point.BASE.multiply(424242n);
    const moveC = (item: BatchItem, delta: typeof shift): BatchItem => {
      const proof = item.proof as ProofItem["proof"];
      return {
        publicSignals: item.publicSignals,
        proof: { ...proof, pi_c: g1Json(parseProof(proof).c.add(delta)) },
      };
    };
    let items = replaceItem(valid, 5, moveC(valid[5] as BatchItem, shift));
    items = replaceItem(items, 9, moveC(valid[9] as BatchItem, shift.negate()));
    const predictable: RandomBytes = (length) => new Uint8Array(length).fill(0x5a);
    expect(verifyGroth16Batch(key, items, predictable)).toBe(true); // why the scalars must be secret
    expect(verifyGroth16(key, items[5]?.publicSignals, items[5]?.proof)).toBe(false);
    expect(verifyGroth16Batch(key, items)).toBe(false);
    expect(findInvalidBatchItems(key, items)).toEqual([5, 9]);
  });

  it("a batch of one agrees with the single verifier", () => {
    const item = valid[2] as BatchItem;
    expect(verifyGroth16Batch(key, [item])).toBe(true);
    expect(verifyGroth16Batch(key, [wrongSignal(item)])).toBe(false);
    expect(findInvalidBatchItems(key, [wrongSignal(item)])).toEqual([0]);
  });

  it("redraws a zero scalar and checks the rng output length", () => {
    let calls = 0;
    const zerosFirst: RandomBytes = (length) => {
      calls++;
      return calls <= 2 ? new Uint8Array(length) : crypto.getRandomValues(new Uint8Array(length));
    };
    expect(verifyGroth16Batch(key, valid.slice(0, 3), zerosFirst)).toBe(true);
    expect(calls).toBe(5);
    expect(() => verifyGroth16Batch(key, valid.slice(0, 2), () => new Uint8Array(8))).toThrow(TypeError);
  });
});

describe("batch input validation", () => {
  it("rejects an empty batch or a non-array instead of accepting vacuously", () => {
    expect(typedError(() => verifyGroth16Batch(key, [])).field).toBe("items");
    expect(typedError(() => findInvalidBatchItems(key, [])).field).toBe("items");
    expect(typedError(() => verifyGroth16Batch(key, {} as unknown as BatchItem[])).field).toBe("items");
  });

  it("names the malformed item and field", () => {
    const item = valid[0] as BatchItem;
    const proof = item.proof as ProofItem["proof"];
    const signals = item.publicSignals as string[];
    const cases: [BatchItem[], string][] = [
      [
        replaceItem(valid, 5, { ...item, proof: { ...proof, pi_a: ["0x1", proof.pi_a[1], "1"] } }),
        "items[5].proof.pi_a[0]",
      ],
      [
        replaceItem(valid, 2, { ...item, publicSignals: [signals[0], "007", ...signals.slice(2)] }),
        "items[2].publicSignals[1]",
      ],
      [replaceItem(valid, 0, { ...item, publicSignals: signals.slice(1) }), "items[0].publicSignals"],
      [replaceItem(valid, 1, null as unknown as BatchItem), "items[1]"],
      [replaceItem(valid, 7, { publicSignals: signals } as unknown as BatchItem), "items[7].proof"],
    ];
    for (const [items, field] of cases) {
      expect(typedError(() => verifyGroth16Batch(key, items)).field).toBe(field);
      expect(typedError(() => findInvalidBatchItems(key, items)).field).toBe(field);
    }
  });

  it("only accepts prepared keys", () => {
    expect(() => verifyGroth16Batch(fixture.vkey as unknown as PreparedVerifyingKey, valid)).toThrow(
      TypeError,
    );
  });
});
