/**
 * End to end: chunk chains of 4+ chunks over random datasets are proven with snarkjs (development keys of the
 * test chunk and final circuits), every proof verifies under its pinned key, the chain's public signals pass
 * the verifier's chain checks (src/circuits/chunk-statement.ts), and the proven answer is the reference
 * evaluator's. Proof validity plus the chain checks are what a chain bundle's verifier does.
 */
import { join } from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkQueryShape, finalShapeOf } from "../src/circuits/chunk-shape.ts";
import { type ChainStatement, checkChainSignals } from "../src/circuits/chunk-statement.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureFinalMainFile } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { CHUNK_TEST_SCHEMA, CHUNK_TEST_SHAPE } from "./helpers/circuits.ts";
import { createRng, randomQuery, randomRecords } from "./helpers/random.ts";

const shape = CHUNK_TEST_SHAPE;
const schema = CHUNK_TEST_SCHEMA;
const keysDir = join(buildRoot(), "test-keys-chunk");
let chunkId: string;
let finalId: string;
let backend: SnarkjsBackend;

beforeAll(async () => {
  const built = await buildDevKeys(
    [await ensureChunkMainFile(shape), await ensureFinalMainFile(finalShapeOf(shape))],
    {
      keysDir,
      replace: true,
    },
  );
  [chunkId, finalId] = built.circuits.map((circuit) => circuit.compiled.id) as [string, string];
  backend = createSnarkjsBackend({ keysDir });
}, 900_000);

afterAll(async () => {
  await backend?.close();
  await terminateCurveWorkers();
});

describe("chunk chains proven with snarkjs", () => {
  it("proves and verifies 5 chains of 4+ chunks with the reference evaluator's answers", async () => {
    const poseidon = await getPoseidon();
    const chunkVkey = await loadPinnedVkey(keysDir, chunkId);
    const finalVkey = await loadPinnedVkey(keysDir, finalId);
    const rng = createRng(90210);
    const kinds = ["count", "sum", "threshold", "membership", "count"] as const;
    for (let run = 0; run < 5; run++) {
      const S = shape.layout.chunkSize;
      const records = randomRecords(rng, schema, rng.int(3 * S + 1, 4 * S)).sort((a, b) =>
        (a[0] as bigint) < (b[0] as bigint) ? -1 : 1,
      );
      const query = randomQuery(rng, schema, {
        maxClauses: shape.clauses,
        maxSet: shape.setSize,
        records,
        kinds: [kinds[run] as (typeof kinds)[number]],
      });
      const minGroupSize = run === 4 ? 3 : 0;
      const committed = commitChunks(poseidon, {
        layout: shape.layout,
        domains: shape.domains,
        keyField: shape.keyField,
        records,
        secret: new Uint8Array(32).fill(run + 1),
        datasetId: `chain-${run}`,
        epoch: 1,
      });
      expect(committed.chunkCount).toBe(4);
      const encoded = encodeQueryPublic(query, schema, chunkQueryShape(shape));
      const nonce = rng.bigint(0n, 2n ** 250n);
      const plan = planChain(poseidon, shape, committed, { nonce, query: encoded, minGroupSize });
      const chunkSignals: string[][] = [];
      for (const chunk of plan.chunks) {
        const proven = await backend.prove(chunkId, chunk.input);
        expect(proven.publicSignals).toEqual(chunk.publicSignals);
        expect(await snarkjs.groth16.verify(chunkVkey, proven.publicSignals, proven.proof)).toBe(true);
        chunkSignals.push(proven.publicSignals);
      }
      const final = await backend.prove(finalId, plan.final.input);
      expect(await snarkjs.groth16.verify(finalVkey, final.publicSignals, final.proof)).toBe(true);
      const statement: ChainStatement = {
        root: committed.root,
        recordCount: committed.recordCount,
        chunkSize: S,
        chunkCount: committed.chunkCount,
        minGroupSize,
        nonce,
        query: encoded,
        outputs: plan.outputs,
      };
      expect(checkChainSignals(statement, chunkSignals, final.publicSignals)).toEqual({ ok: true });
      const reference = evaluateQuery(query, schema, records, { minGroupSize });
      const answer = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
      expect(final.publicSignals.slice(0, 2)).toEqual([reference.suppressed ? "1" : "0", String(answer)]);
      // A proof's signals edited to another answer no longer verify.
      const edited = [...final.publicSignals];
      edited[1] = String(BigInt(edited[1] as string) + 1n);
      expect(await snarkjs.groth16.verify(finalVkey, edited, final.proof)).toBe(false);
    }
  }, 900_000);
});
