/**
 * End to end: differentially private answers over a chunked dataset (design.md section 8), proven with
 * snarkjs on development keys of the test chunk circuits (plain and clamped) and a small noisy final step,
 * and verified by the SDK (`verifyDpChain`, `verifyAny`): a noisy count and a noisy clamped sum, each equal
 * to the reference evaluator's answer plus the TypeScript twin's noise. Soundness at bundle level, each an
 * edit of an honest bundle expecting rejection: another noisy answer (fresh noise for the same nonce), a
 * manifest committing to another seed, noise params or a privacy claim that do not hold, and a clamped sum
 * whose chunk proofs skip the clamp.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkCircuitId, finalCircuitId, finalShapeOf, makeChunkShape } from "../src/circuits/chunk-shape.ts";
import { type NoisyFinalShape, noiseCentre, noiseDelta, noisyFinalCircuitId } from "../src/circuits/noise.ts";
import { type ChunkedCommitment, commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { buildChunkedManifest, type ChunkedManifest } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { deriveNoiseSecret, noiseSeedCommitment } from "../src/dataset/noise-seed.ts";
import { proveChain } from "../src/prover/prove-chain.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { canonicalQuery } from "../src/query/canonical.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import type { Query } from "../src/query/model.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureNoisyFinalMainFile } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import {
  type DpChainBundle,
  describeNoisyStatement,
  VerifierInputError,
  type VerifyOptions,
  verifyAny,
  verifyDpChain,
} from "../src/verifier/index.ts";
import { OPERATOR_KEY, OPERATOR_SECRET } from "./helpers/bundles.ts";
import { CHUNK_TEST_SCHEMA, CHUNK_TEST_SHAPE } from "./helpers/circuits.ts";

const schema = CHUNK_TEST_SCHEMA;
const plainShape = CHUNK_TEST_SHAPE;
const clampShape = makeChunkShape({ ...CHUNK_TEST_SHAPE, clamp: true });
const noisyShape: NoisyFinalShape = { clauses: 3, width: 16, maxCoins: 512, maxScaleBits: 8 };
const limits = { maxCoins: noisyShape.maxCoins, maxScaleBits: noisyShape.maxScaleBits };
const keysDir = join(buildRoot(), "test-keys-noise");
const querySlots = { clauses: plainShape.clauses, setSize: plainShape.setSize };
const datasetSecret = new Uint8Array(32).fill(11);
const secret = deriveNoiseSecret(datasetSecret, "dp-chain", 1);
const ids = {
  plain: chunkCircuitId(plainShape),
  clamp: chunkCircuitId(clampShape),
  noisy: noisyFinalCircuitId(noisyShape),
  exactFinal: finalCircuitId(finalShapeOf(plainShape)),
};

/** 40 records (3 chunks of 16): userId 10 i + 1, country i mod 6, edits 7 i, bot i mod 3 = 0, level i. */
const records = Array.from({ length: 40 }, (_, i) => [
  BigInt(10 * i + 1),
  BigInt(i % 6),
  BigInt(7 * i),
  i % 3 === 0 ? 1n : 0n,
  BigInt(i),
]);
const countQuery: Query = {
  predicate: [{ field: "bot", op: "eq", value: false }],
  aggregate: { kind: "count" },
};
const sumQuery: Query = {
  predicate: [{ field: "country", op: "in", value: ["DE", "FR"] }],
  aggregate: { kind: "sum", field: "edits", clamp: [0, 20] },
};

let backend: SnarkjsBackend;
let options: VerifyOptions;
let manifest: ChunkedManifest;
let committed: ChunkedCommitment;
let vkeyHashes: Record<string, string>;
let countBundle: DpChainBundle;
let sumBundle: DpChainBundle;

function manifestWith(noiseCommitment: bigint): ChunkedManifest {
  return signManifest(
    buildChunkedManifest({
      datasetId: "dp-chain",
      epoch: 1,
      schema,
      recordCount: records.length,
      layout: plainShape.layout,
      root: committed.root,
      circuits: [ids.plain, ids.clamp, ids.noisy, ids.exactFinal],
      createdAt: "2026-12-01T10:00:00Z",
      noiseCommitment,
    }),
    OPERATOR_SECRET,
  );
}

function prove(
  query: Query,
  nonce: bigint,
  overrides: { manifest?: ChunkedManifest; epsilon?: number } = {},
) {
  const clamp = query.aggregate.kind === "sum" && query.aggregate.clamp !== undefined;
  return proveChain({
    manifest: overrides.manifest ?? manifest,
    committed,
    records,
    query,
    nonce,
    minGroupSize: 0,
    querySlots,
    vkeyHashes: {
      chunk: vkeyHashes[clamp ? ids.clamp : ids.plain] as string,
      final: vkeyHashes[ids.noisy] as string,
    },
    prover: backend,
    createdAt: "2026-12-01T11:00:00Z",
    noise: { epsilon: overrides.epsilon ?? 1, delta: 1e-6, secret, limits },
  });
}

beforeAll(async () => {
  const built = await buildDevKeys(
    [
      await ensureChunkMainFile(plainShape),
      await ensureChunkMainFile(clampShape),
      await ensureNoisyFinalMainFile(noisyShape),
    ],
    { keysDir, replace: true },
  );
  expect(built.circuits.map((circuit) => circuit.compiled.id)).toEqual([ids.plain, ids.clamp, ids.noisy]);
  backend = createSnarkjsBackend({ keysDir });
  const poseidon = await getPoseidon();
  committed = commitChunks(poseidon, {
    layout: plainShape.layout,
    domains: plainShape.domains,
    keyField: plainShape.keyField,
    records,
    secret: datasetSecret,
    datasetId: "dp-chain",
    epoch: 1,
  });
  manifest = manifestWith(noiseSeedCommitment(poseidon, secret));
  const keys: Record<string, unknown> = {};
  vkeyHashes = {};
  for (const id of [ids.plain, ids.clamp, ids.noisy]) {
    keys[id] = await loadPinnedVkey(keysDir, id);
  }
  const keysManifest = JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8"));
  for (const [id, entry] of Object.entries(keysManifest.circuits as Record<string, { vkeySha256: string }>)) {
    vkeyHashes[id] = entry.vkeySha256;
  }
  options = { keys, keysManifest, operatorKey: OPERATOR_KEY, allowInsecureKeys: true };
  countBundle = await prove(countQuery, 1001n);
  sumBundle = await prove(sumQuery, 1002n);
}, 1_500_000);

afterAll(async () => {
  await backend?.close();
  await terminateCurveWorkers();
});

function trueAnswer(query: Query): bigint {
  return evaluateQuery(canonicalQuery(query, schema), schema, records).answer as bigint;
}

describe("noisy answers proven and verified end to end", () => {
  it("a noisy count: verified, (epsilon, delta) stated and recomputed, the noise the twin's", () => {
    const result = verifyDpChain(countBundle, options);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    if (!result.valid) return;
    expect(result.privacy).toMatchObject({
      mechanism: "binomial-dither/v1",
      epsilon: "1",
      sensitivity: "1",
      scaleBits: 0,
    });
    expect(result.computedDelta).toBeLessThanOrEqual(Number(result.privacy.delta));
    expect(Number(result.privacy.delta)).toBeLessThanOrEqual(1e-6);
    expect(result.statement).toContain("noisy count of records matching bot = false is");
    expect(result.statement).toContain("(1, ");
    const released = BigInt(countBundle.final.publicSignals[0] as string);
    const noisy = released - noiseCentre(countBundle.privacy);
    expect(String(noisy)).toBe(countBundle.answer.noisy);
    const noise = noisy - trueAnswer(countQuery);
    expect(noise >= -noiseCentre(countBundle.privacy) && noise <= BigInt(countBundle.privacy.coins)).toBe(
      true,
    );
    expect(verifyAny(countBundle, options).valid).toBe(true);
    expect(JSON.stringify(countBundle)).not.toContain(String(secret.seed));
  });

  it("a noisy clamped sum over the clamped chunk circuit, sensitivity = the clamp's hi", () => {
    const result = verifyDpChain(sumBundle, options);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    expect(sumBundle.chunkCircuitId).toBe(ids.clamp);
    expect(sumBundle.privacy.sensitivity).toBe("20");
    expect(sumBundle.statement).toContain("noisy sum of edits clamped to [0, 20]");
    const noisy = BigInt(sumBundle.answer.noisy);
    const s = 1n << BigInt(sumBundle.privacy.scaleBits);
    const spread = s * BigInt(sumBundle.privacy.coins + 1);
    expect(noisy - trueAnswer(sumQuery) >= -spread && noisy - trueAnswer(sumQuery) <= spread).toBe(true);
  });

  it("the same query and nonce give the same noise (fresh blinds, same released value); another nonce is valid", async () => {
    const again = await prove(countQuery, 1001n);
    expect(again.final.publicSignals[0]).toBe(countBundle.final.publicSignals[0]);
    expect(again.final.publicSignals.slice(1, -3)).toEqual(countBundle.final.publicSignals.slice(1, -3));
    expect(again.answer).toEqual(countBundle.answer);
    expect(verifyDpChain(again, options).valid).toBe(true);
    const other = await prove(countQuery, 1003n);
    expect(verifyDpChain(other, options).valid).toBe(true);
    expect(other.final.publicSignals[3]).not.toBe(countBundle.final.publicSignals[3]);
  }, 600_000);
});

describe("dp-chain bundles edited by a dishonest operator are rejected", () => {
  const edited = (bundle: DpChainBundle, change: (copy: Record<string, unknown>) => void) => {
    const copy = structuredClone(bundle) as unknown as Record<string, unknown>;
    change(copy);
    return copy;
  };

  it("rejects another noisy answer for the same nonce (fresh noise)", () => {
    for (const delta of [1n, -1n, 5n]) {
      const noisy = String(BigInt(countBundle.answer.noisy) + delta);
      const bundle = edited(countBundle, (copy) => {
        copy.answer = { kind: "count", noisy };
        copy.statement = describeNoisyStatement({ ...countBundle, schema, answer: { kind: "count", noisy } });
      });
      const result = verifyDpChain(bundle, options);
      expect(result.valid).toBe(false);
      if (!result.valid) expect([result.check, result.at]).toEqual(["chain", "final"]);
      // and a released signal edited to match is not a valid proof
      const forged = edited(bundle as unknown as DpChainBundle, (copy) => {
        const final = copy.final as { publicSignals: string[] };
        final.publicSignals[0] = String(BigInt(final.publicSignals[0] as string) + delta);
      });
      const proof = verifyDpChain(forged, options);
      expect(proof.valid).toBe(false);
      if (!proof.valid) expect([proof.check, proof.at]).toEqual(["proof", "final"]);
    }
  });

  it("rejects noise not from the committed seed: a manifest committing to another seed", async () => {
    const poseidon = await getPoseidon();
    const otherSecret = deriveNoiseSecret(new Uint8Array(32).fill(12), "dp-chain", 1);
    const otherManifest = manifestWith(noiseSeedCommitment(poseidon, otherSecret));
    const swapped = edited(countBundle, (copy) => {
      copy.manifest = otherManifest;
    });
    const result = verifyDpChain(swapped, options);
    expect(result.valid).toBe(false);
    if (!result.valid) expect(result.reason).toMatch(/seedCommitment/);
    // the prover refuses to prove with a secret that does not open the manifest's commitment
    await expect(prove(countQuery, 1004n, { manifest: otherManifest })).rejects.toThrow(/noiseCommitment/);
    const noSeed = edited(countBundle, (copy) => {
      const { noiseCommitment: _, signature: __, operatorKey: ___, ...unsigned } = manifest;
      copy.manifest = signManifest(unsigned, OPERATOR_SECRET);
    });
    const without = verifyDpChain(noSeed, options);
    expect(without.valid).toBe(false);
    if (!without.valid) expect(without.check).toBe("privacy");
  });

  it("rejects a privacy claim the params do not give, and params other than the proof's", () => {
    const claims: [Partial<DpChainBundle["privacy"]>, RegExp][] = [
      [{ epsilon: "0.5" }, /more than the stated/],
      [{ delta: "1e-12" }, /more than the stated/],
      [{ sensitivity: "2" }, /sensitivity/],
      [{ coins: countBundle.privacy.coins + 2 }, /noise params|differs|released/],
    ];
    for (const [change, reason] of claims) {
      const privacy = { ...countBundle.privacy, ...change };
      const bundle = edited(countBundle, (copy) => {
        copy.privacy = privacy;
        copy.statement = describeNoisyStatement({ ...countBundle, schema, privacy });
      });
      const result = verifyDpChain(bundle, options);
      expect(result.valid, JSON.stringify(change)).toBe(false);
      if (!result.valid) expect(result.reason, JSON.stringify(change)).toMatch(reason);
    }
    expect(() =>
      verifyDpChain(
        edited(countBundle, (copy) => {
          copy.privacy = { ...countBundle.privacy, coins: 4096 };
        }),
        options,
      ),
    ).toThrow(VerifierInputError); // past NMAX
    expect(noiseDelta({ coins: countBundle.privacy.coins, scaleBits: 0 }, 1n, 0.5)).toBeGreaterThan(1e-6);
  });

  it("rejects a clamped sum whose chunks were proven without the clamp", () => {
    const plainChunks = edited(sumBundle, (copy) => {
      copy.chunkCircuitId = ids.plain;
      copy.chunkVkeyHash = vkeyHashes[ids.plain];
    });
    const result = verifyDpChain(plainChunks, options);
    expect(result.valid).toBe(false);
    if (!result.valid) expect(result.check).toBe("circuit");
    const unclampedQuery = edited(sumBundle, (copy) => {
      const query = { ...sumQuery, aggregate: { kind: "sum", field: "edits" } } as Query;
      copy.query = canonicalQuery(query, schema);
    });
    const stripped = verifyDpChain(unclampedQuery, options);
    expect(stripped.valid).toBe(false); // the clamp-free query needs another circuit, statement and signals
  });
});
