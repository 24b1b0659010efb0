/**
 * @module test/helpers/chain-bundle
 *
 * One small real chain bundle (`zktally-bundle/v2`, 2 chunks) over the chunk test shape, proven with snarkjs
 * under development keys in its own keys directory (`build/test-keys-chain-fixture`), with the
 * `GET /v1/circuits`-style listing of its two keys, for tests that need a v2 bundle but not the chain edits
 * of test/verifier-chain.test.ts.
 *
 * Caveat: builds (or reuses from the build cache) the chunk and final keys and proves 3 proofs: seconds on a
 * quiet machine, a minute on a loaded one.
 */
import { join } from "node:path";
import { finalShapeOf } from "../../src/circuits/chunk-shape.ts";
import { commitChunks } from "../../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../../src/dataset/commitment.ts";
import { buildChunkedManifest } from "../../src/dataset/manifest.ts";
import { signManifest } from "../../src/dataset/manifest-sign.ts";
import { proveChain } from "../../src/prover/prove-chain.ts";
import { createSnarkjsBackend } from "../../src/prover/snarkjs-backend.ts";
import { buildDevKeys } from "../../src/setup/index.ts";
import { loadPinnedVkey, readKeysManifest } from "../../src/setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureFinalMainFile } from "../../src/setup/main-files.ts";
import { buildRoot } from "../../src/setup/paths.ts";
import type { ChainBundle } from "../../src/verifier/chain-bundle.ts";
import { vkeyHash } from "../../src/verifier/vkey.ts";
import { OPERATOR_SECRET } from "./bundles.ts";
import { CHUNK_TEST_SCHEMA, CHUNK_TEST_SHAPE } from "./circuits.ts";
import { createRng, randomRecords } from "./random.ts";

export interface ChainFixture {
  readonly bundle: ChainBundle;
  /** The listing `GET /v1/circuits` would give for the two circuits. */
  readonly listing: { circuits: unknown[] };
}

export async function buildChainFixture(): Promise<ChainFixture> {
  const shape = CHUNK_TEST_SHAPE;
  const keysDir = join(buildRoot(), "test-keys-chain-fixture");
  const built = await buildDevKeys(
    [await ensureChunkMainFile(shape), await ensureFinalMainFile(finalShapeOf(shape))],
    { keysDir, replace: true },
  );
  const [chunkId, finalId] = built.circuits.map((circuit) => circuit.compiled.id) as [string, string];
  const keysManifest = await readKeysManifest(keysDir);
  const vkeys = {
    chunk: await loadPinnedVkey(keysDir, chunkId),
    final: await loadPinnedVkey(keysDir, finalId),
  };
  const records = randomRecords(createRng(77), CHUNK_TEST_SCHEMA, shape.layout.chunkSize + 3).sort((a, b) =>
    (a[0] as bigint) < (b[0] as bigint) ? -1 : 1,
  );
  const committed = commitChunks(await getPoseidon(), {
    layout: shape.layout,
    domains: shape.domains,
    keyField: shape.keyField,
    records,
    secret: new Uint8Array(32).fill(5),
    datasetId: "chain-page",
    epoch: 1,
  });
  const manifest = signManifest(
    buildChunkedManifest({
      datasetId: "chain-page",
      epoch: 1,
      schema: CHUNK_TEST_SCHEMA,
      recordCount: committed.recordCount,
      layout: shape.layout,
      root: committed.root,
      circuits: [chunkId, finalId],
      createdAt: "2026-12-01T10:00:00Z",
    }),
    OPERATOR_SECRET,
  );
  const backend = createSnarkjsBackend({ keysDir });
  try {
    const bundle = await proveChain({
      manifest,
      committed,
      records,
      query: { predicate: [], aggregate: { kind: "count" } },
      nonce: 4242n,
      minGroupSize: 0,
      querySlots: { clauses: shape.clauses, setSize: shape.setSize },
      vkeyHashes: { chunk: vkeyHash(vkeys.chunk), final: vkeyHash(vkeys.final) },
      prover: backend,
    });
    const listing = {
      circuits: [
        [chunkId, vkeys.chunk],
        [finalId, vkeys.final],
      ].map(([circuitId, vkey]) => ({
        circuitId,
        vkeyHash: vkeyHash(vkey),
        nPublic: (vkey as { nPublic: number }).nPublic,
        constraints: 0,
        insecure: keysManifest?.insecure ?? true,
        vkey,
      })),
    };
    return { bundle, listing };
  } finally {
    await backend.close();
  }
}
