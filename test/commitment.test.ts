/**
 * Known-answer vectors shared by the TypeScript commitment (src/dataset/commitment.ts) and the circuit
 * (circuits/lib/commitment.circom): standard Poseidon, the domain-separated leaf/node hashes, and the root of
 * a fixed dataset, which the circuit must accept as its public root.
 */
import { describe, expect, it } from "vitest";
import { aggregateCircuitInput } from "../src/circuits/aggregate-witness.ts";
import { commitDataset, getPoseidon, TAG_LEAF, TAG_NODE } from "../src/dataset/commitment.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import { loadShape, TEST_SHAPE } from "./helpers/circuits.ts";
import { satisfies } from "./helpers/r1cs.ts";

const KAT_ROOT = 11555568397993416135529547127918672202478401244138798653149712307986173560826n;
const katInput = {
  layout: TEST_SHAPE,
  records: [
    [1n, 2n, 3n, 4n],
    [65535n, 0n, 1n, 0n],
    [7n, 7n, 7n, 7n],
  ],
  secret: new Uint8Array(32).map((_, i) => i),
  datasetId: "kat",
  epoch: 3,
};

describe("commitment known answers", () => {
  it("is standard circomlib Poseidon with the capacity as domain tag", async () => {
    const poseidon = await getPoseidon();
    // Poseidon([1, 2]) of circomlib / the Poseidon reference implementation.
    expect(poseidon([1n, 2n], 0n)).toBe(
      7853200120776062878684798364095072458815029376092732009249414926327459813530n,
    );
    expect(poseidon([1n, 2n], TAG_LEAF)).toBe(
      5303175496235313275855793656950308600575048227315913578714508090965599666870n,
    );
    expect(poseidon([1n, 2n], TAG_NODE)).toBe(
      19503075710551121446610512449881342238588479980703145633811635949424225798213n,
    );
  });

  it("pins the root of a fixed dataset, and the circuit accepts exactly that root", async () => {
    const commitment = await commitDataset(katInput);
    expect(commitment.root).toBe(KAT_ROOT);
    expect(commitment.slots.salts[0]).toBe(
      315480168296411187325449906486953769388304110132991681834993221140829280993n,
    );
    const circuit = await loadShape(TEST_SHAPE);
    const schema = {
      fields: ["a", "b", "c", "d"].map((name) => ({ name, type: "uint" as const, bits: 16 })),
    };
    const inputs = {
      root: KAT_ROOT,
      recordCount: 3,
      minGroupSize: 0,
      nonce: 1n,
      query: encodeQueryPublic({ predicate: [], aggregate: { kind: "count" } }, schema, TEST_SHAPE),
    };
    const witness = await circuit.witness(aggregateCircuitInput(TEST_SHAPE, commitment.slots, inputs));
    expect(witness[3]).toBe(KAT_ROOT);
    expect(satisfies(circuit, witness)).toBe(true);
    const otherEpoch = await commitDataset({ ...katInput, epoch: 4 });
    expect(otherEpoch.root).not.toBe(KAT_ROOT);
  });
});
