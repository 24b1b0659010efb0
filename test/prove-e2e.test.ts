/**
 * End to end: random datasets are committed and signed, random queries proven with snarkjs through the
 * prover pipeline, and every proof checked against public signals recomputed from the manifest, query, answer
 * and nonce. A wrong claimed answer, another dataset, another nonce or group size must not verify.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { circuitId } from "../src/circuits/shape.ts";
import { type CommittedDataset, commitRecords } from "../src/dataset/committed.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { checkQueryProof } from "../src/prover/check.ts";
import { proveQuery, type QueryProof } from "../src/prover/prove-query.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { TEST_SHAPE } from "./helpers/circuits.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import { createRng, randomQuery, randomRecords, randomSchema } from "./helpers/random.ts";

const shape = TEST_SHAPE;
const id = circuitId(shape);
const operator = generateOperatorKey();
let backend: SnarkjsBackend;
let vkey: Awaited<ReturnType<typeof loadPinnedVkey>>;

beforeAll(async () => {
  backend = createSnarkjsBackend({ keysDir: TEST_KEYS_DIR });
  vkey = await loadPinnedVkey(TEST_KEYS_DIR, id);
});
afterAll(async () => {
  await backend.close();
});

async function commit(seed: number, records: bigint[][], schema: CommittedDataset["schema"], epoch = 1) {
  return commitRecords({
    datasetId: `ds-${seed}`,
    epoch,
    schema,
    records,
    layout: shape,
    secret: new Uint8Array(32).fill(seed & 0xff),
    operatorSecretKey: operator.secretKey,
    circuits: [id],
  });
}

const check = (dataset: CommittedDataset, proof: QueryProof) =>
  checkQueryProof({ manifest: dataset.manifest, operatorKey: operator.publicKey, vkey, proof });

describe("proving pipeline (snarkjs)", () => {
  const proven: { dataset: CommittedDataset; proof: QueryProof }[] = [];

  it("proves and verifies 24 random (dataset, query) pairs, answers equal to the reference evaluator", async () => {
    const rng = createRng(4242);
    for (let run = 0; run < 24; run++) {
      const schema = randomSchema(rng, { maxFields: shape.fields, maxWidth: shape.width });
      const records = randomRecords(rng, schema, rng.int(1, shape.capacity));
      const dataset = await commit(run, records, schema);
      const kinds = ["count", "sum", "threshold", "membership"] as const;
      const query = randomQuery(rng, schema, {
        maxClauses: shape.clauses,
        maxSet: shape.setSize,
        records,
        kinds: [kinds[run % 4] as (typeof kinds)[number]],
      });
      const minGroupSize = run % 5 === 0 ? 2 : 0;
      const nonce = rng.bigint(0n, 2n ** 250n);
      const proof = await proveQuery(backend, { dataset, shape, query, minGroupSize, nonce });
      const reference = evaluateQuery(query, schema, records, { minGroupSize });
      if (reference.suppressed) expect(proof.answer.suppressed).toBe(true);
      else expect(String(proof.answer.value)).toBe(String(reference.answer));
      expect(await check(dataset, proof), `run ${run}`).toEqual({ valid: true });
      proven.push({ dataset, proof });
    }
    expect(backend.stats.loads).toBe(1); // keys stay in memory across proofs
  });

  it("rejects a wrong claimed answer, nonce, group size, query constant or another dataset's manifest", async () => {
    const { dataset, proof } = proven.find(
      (p) => p.proof.answer.kind === "count" && !p.proof.answer.suppressed,
    )!;
    const value = BigInt(proof.answer.value as string);
    const wrongAnswer = { ...proof, answer: { ...proof.answer, value: String(value + 1n) } } as QueryProof;
    expect((await check(dataset, wrongAnswer)).valid).toBe(false);
    // Even with signals edited consistently, the Groth16 proof itself fails.
    const signals = [...proof.publicSignals];
    signals[1] = String(value + 1n);
    expect((await check(dataset, { ...wrongAnswer, publicSignals: signals })).valid).toBe(false);
    expect((await check(dataset, { ...proof, nonce: String(BigInt(proof.nonce) + 1n) })).valid).toBe(false);
    expect((await check(dataset, { ...proof, minGroupSize: proof.minGroupSize + 1 })).valid).toBe(false);
    const other = proven.find((p) => p.dataset !== dataset)!.dataset;
    expect((await check(other, proof)).valid).toBe(false);
    const reEpoch = await commit(0, dataset.records as bigint[][], dataset.schema, 2);
    expect((await check(reEpoch, proof)).valid).toBe(false);
  });

  it("a suppressed answer proves suppression only", async () => {
    const suppressed = proven.find((p) => p.proof.answer.suppressed);
    expect(suppressed).toBeDefined();
    const { dataset, proof } = suppressed!;
    expect(proof.publicSignals.slice(0, 2)).toEqual(["1", "0"]);
    const unsuppressed = {
      ...proof,
      answer: { kind: proof.answer.kind, suppressed: false, value: "0" },
    } as QueryProof;
    expect((await check(dataset, unsuppressed)).valid).toBe(false);
  });
});
