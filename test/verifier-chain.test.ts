/**
 * Chain bundles (`zktally-bundle/v2`, src/verifier/chain-bundle.ts, verify-chain.ts) end to end: a 4-chunk
 * chain over the chunk test shape is proven once with snarkjs development keys (prover/prove-chain.ts) and
 * verified offline with the SDK; then the bundle is edited the ways a dishonest operator would (chunks
 * reordered, dropped, duplicated, taken from another dataset/epoch or another query/nonce, proofs tampered)
 * and each edit must be rejected naming the first bad chunk; malformed bundles throw typed errors.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkQueryShape, finalShapeOf } from "../src/circuits/chunk-shape.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { runVerify } from "../src/cli/verify-command.ts";
import { type ChunkedCommitment, commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { buildChunkedManifest, type ChunkedManifest } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { proveChain } from "../src/prover/prove-chain.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { canonicalQuery } from "../src/query/canonical.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureFinalMainFile } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { describeStatement } from "../src/verifier/describe.ts";
import {
  type ChainBundle,
  type ChainProofEntry,
  InsecureKeysError,
  isChainBundle,
  VerifierInputError,
  type VerifyOptions,
  verify,
  verifyAny,
  verifyChain,
  vkeyHash,
} from "../src/verifier/index.ts";
import { OPERATOR_KEY, OPERATOR_SECRET } from "./helpers/bundles.ts";
import { CHUNK_TEST_SCHEMA, CHUNK_TEST_SHAPE } from "./helpers/circuits.ts";
import { createRng, randomQuery, randomRecords } from "./helpers/random.ts";

const shape = CHUNK_TEST_SHAPE;
const schema = CHUNK_TEST_SCHEMA;
const keysDir = join(buildRoot(), "test-keys-chain-bundle");
const querySlots = { clauses: shape.clauses, setSize: shape.setSize };
let chunkId: string;
let finalId: string;
let backend: SnarkjsBackend;
let options: VerifyOptions;
let records: bigint[][];
let query: Query;
let bundle: ChainBundle;
/** Chunk 1 of a chain over the same dataset for another query and nonce. */
let foreignQueryChunk: ChainProofEntry;
/** Chunk 2 of a chain over the same records committed as another epoch (another root). */
let foreignEpochChunk: ChainProofEntry;

function manifestOf(committed: ChunkedCommitment, datasetId: string, epoch: number): ChunkedManifest {
  return signManifest(
    buildChunkedManifest({
      datasetId,
      epoch,
      schema,
      recordCount: committed.recordCount,
      layout: shape.layout,
      root: committed.root,
      circuits: [chunkId, finalId],
      createdAt: "2026-12-01T10:00:00Z",
    }),
    OPERATOR_SECRET,
  );
}

function commit(epoch: number): ChunkedCommitment {
  return commitChunksWith(epoch);
}

let poseidonRef: Awaited<ReturnType<typeof getPoseidon>>;
function commitChunksWith(epoch: number): ChunkedCommitment {
  return commitChunks(poseidonRef, {
    layout: shape.layout,
    domains: shape.domains,
    keyField: shape.keyField,
    records,
    secret: new Uint8Array(32).fill(3),
    datasetId: "chain-bundle",
    epoch,
  });
}

/** Proves chunk `index` of the chain answering `forQuery` with `nonce` over `committed`. */
async function proveOneChunk(
  committed: ChunkedCommitment,
  forQuery: Query,
  nonce: bigint,
  index: number,
): Promise<ChainProofEntry> {
  const encoded = encodeQueryPublic(canonicalQuery(forQuery, schema), schema, chunkQueryShape(shape));
  const plan = planChain(poseidonRef, shape, committed, { nonce, query: encoded, minGroupSize: 0 });
  const chunk = plan.chunks[index];
  if (chunk === undefined) throw new Error(`no chunk ${index}`);
  const proven = await backend.prove(chunkId, chunk.input as unknown as Record<string, unknown>);
  return { publicSignals: proven.publicSignals, proof: proven.proof as ChainProofEntry["proof"] };
}

beforeAll(async () => {
  const built = await buildDevKeys(
    [await ensureChunkMainFile(shape), await ensureFinalMainFile(finalShapeOf(shape))],
    { keysDir, replace: true },
  );
  [chunkId, finalId] = built.circuits.map((circuit) => circuit.compiled.id) as [string, string];
  backend = createSnarkjsBackend({ keysDir });
  poseidonRef = await getPoseidon();
  const chunkVkey = await loadPinnedVkey(keysDir, chunkId);
  const finalVkey = await loadPinnedVkey(keysDir, finalId);
  options = {
    keys: { [chunkId]: chunkVkey, [finalId]: finalVkey },
    keysManifest: JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8")),
    operatorKey: OPERATOR_KEY,
    allowInsecureKeys: true,
  };
  const rng = createRng(4242);
  const S = shape.layout.chunkSize;
  records = randomRecords(rng, schema, 4 * S - 3).sort((a, b) =>
    (a[0] as bigint) < (b[0] as bigint) ? -1 : 1,
  );
  query = randomQuery(rng, schema, {
    maxClauses: shape.clauses,
    maxSet: shape.setSize,
    records,
    kinds: ["count"],
  });
  const committed = commit(1);
  const nonce = 123456789n;
  bundle = await proveChain({
    manifest: manifestOf(committed, "chain-bundle", 1),
    committed,
    records,
    query,
    nonce,
    minGroupSize: 0,
    querySlots,
    vkeyHashes: { chunk: vkeyHash(chunkVkey), final: vkeyHash(finalVkey) },
    prover: backend,
  });
  const otherQuery = randomQuery(rng, schema, {
    maxClauses: shape.clauses,
    maxSet: shape.setSize,
    records,
    kinds: ["sum"],
  });
  foreignQueryChunk = await proveOneChunk(committed, otherQuery, 987654321n, 1);
  foreignEpochChunk = await proveOneChunk(commit(2), query, nonce, 2);
}, 900_000);

afterAll(async () => {
  await backend?.close();
  await terminateCurveWorkers();
});

function withChunks(chunks: readonly ChainProofEntry[]): ChainBundle {
  return { ...bundle, chunks };
}

function chunk(index: number): ChainProofEntry {
  return bundle.chunks[index] as ChainProofEntry;
}

function rejection(edited: unknown) {
  const result = verifyChain(edited, options);
  expect(result.valid).toBe(false);
  return result as Extract<typeof result, { valid: false }>;
}

function thrown(run: () => unknown): VerifierInputError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(VerifierInputError);
    return error as VerifierInputError;
  }
  throw new Error("expected a VerifierInputError");
}

describe("chain bundles", () => {
  it("verifies an honest 4-chunk chain with the reference evaluator's answer, in words", () => {
    expect(bundle.chunks).toHaveLength(4);
    const result = verifyChain(bundle, options);
    expect(result).toMatchObject({ valid: true, kind: "chain", chunkCount: 4, datasetId: "chain-bundle" });
    const reference = evaluateQuery(query, schema, records);
    expect(bundle.answer).toEqual({ kind: "count", suppressed: false, value: String(reference.answer) });
    if (!result.valid) throw new Error(result.reason);
    expect(result.statement).toBe(bundle.statement);
    expect(result.statement).toMatch(/^dataset chain-bundle epoch 1: /);
    expect(result.warnings.join()).toMatch(/INSECURE/);
    // As text too, and through the format dispatcher; v1 `verify` names the format.
    expect(verifyChain(JSON.stringify(bundle), options).valid).toBe(true);
    expect(isChainBundle(bundle)).toBe(true);
    expect(verifyAny(bundle, options).valid).toBe(true);
    expect(thrown(() => verify(bundle, options)).field).toBe("format");
  });

  it("rejects reordered, dropped and duplicated chunks, naming the first bad one", () => {
    const [c0, c1, c2, c3] = [0, 1, 2, 3].map(chunk) as [
      ChainProofEntry,
      ChainProofEntry,
      ChainProofEntry,
      ChainProofEntry,
    ];
    expect(rejection(withChunks([c0, c2, c1, c3]))).toMatchObject({ check: "chain", at: 1 });
    expect(rejection(withChunks([c0, c1, c3]))).toMatchObject({ check: "chain", at: 2 });
    expect(rejection(withChunks([c0, c1, c2]))).toMatchObject({ check: "chain", at: 3 });
    expect(rejection(withChunks([c0, c1, c1, c2, c3]))).toMatchObject({ check: "chain", at: 2 });
    expect(rejection(withChunks([c0, c1, c2, c3, c3]))).toMatchObject({ check: "chain", at: 4 });
  });

  it("rejects a chunk from another dataset epoch or another query and nonce at its index", () => {
    const chunks = [0, 1, 2, 3].map(chunk);
    const epoch = rejection(withChunks(chunks.map((c, i) => (i === 2 ? foreignEpochChunk : c))));
    expect(epoch).toMatchObject({ check: "chain", at: 2 });
    expect(epoch.reason).toMatch(/root/);
    const other = rejection(withChunks(chunks.map((c, i) => (i === 1 ? foreignQueryChunk : c))));
    expect(other).toMatchObject({ check: "chain", at: 1 });
    expect(other.reason).toMatch(/nonce|query/);
  });

  it("rejects chunk signals edited to another query or nonce (chunks disagreeing with the request)", () => {
    const editedSignal = (index: number, position: number) =>
      withChunks(
        bundle.chunks.map((c, i) => {
          if (i !== index) return c;
          const signals = [...c.publicSignals];
          signals[position] = String(BigInt(signals[position] as string) + 1n);
          return { ...c, publicSignals: signals };
        }),
      );
    expect(rejection(editedSignal(3, 3))).toMatchObject({ check: "chain", at: 3 }); // nonce
    expect(rejection(editedSignal(1, 4))).toMatchObject({ check: "chain", at: 1 }); // aggregate
    // accOut edited: chunk 2's own proof no longer verifies, and it comes before chunk 3's broken accIn
    expect(rejection(editedSignal(2, 0))).toMatchObject({ check: "proof", at: 2 });
  });

  it("rejects a tampered proof naming its chunk, and the first of several problems", () => {
    const tampered = (index: number) => ({
      ...chunk(index),
      proof: { ...chunk(index).proof, pi_a: chunk((index + 1) % 4).proof.pi_a },
    });
    for (const k of [0, 2, 3]) {
      const result = rejection(withChunks(bundle.chunks.map((c, i) => (i === k ? tampered(k) : c))));
      expect(result).toMatchObject({ check: "proof", at: k });
    }
    // a bad proof at 1 comes before a reordering at 2..3
    const both = withChunks([chunk(0), tampered(1), chunk(3), chunk(2)]);
    expect(rejection(both)).toMatchObject({ check: "proof", at: 1 });
    const final = { ...bundle.final, proof: { ...bundle.final.proof, pi_a: chunk(0).proof.pi_a } };
    expect(rejection({ ...bundle, final })).toMatchObject({ check: "proof", at: "final" });
  });

  it("rejects another answer whose statement is rewritten to match", () => {
    const value = String(BigInt(bundle.answer.value as string) + 1n);
    const answer = { ...bundle.answer, value } as ChainBundle["answer"];
    const statement = describeStatement({
      manifest: bundle.manifest,
      schema,
      query: bundle.query,
      answer,
      minGroupSize: 0,
    });
    expect(rejection({ ...bundle, answer, statement })).toMatchObject({ check: "chain", at: "final" });
    expect(rejection({ ...bundle, answer })).toMatchObject({ check: "statement" });
  });

  it("fails closed on insecure keys and refuses an unsigned trust root", () => {
    expect(() => verifyChain(bundle, { ...options, allowInsecureKeys: false })).toThrow(InsecureKeysError);
    const { operatorKey: _, ...noTrust } = options;
    expect(thrown(() => verifyChain(bundle, noTrust)).field).toBe("options");
    const otherKey = "ab".repeat(32);
    expect(verifyChain(bundle, { ...options, operatorKey: otherKey })).toMatchObject({
      valid: false,
      check: "operator-key",
    });
  });

  it("throws typed errors for malformed chain bundles", () => {
    const { final: _, ...noFinal } = bundle;
    expect(thrown(() => verifyChain(noFinal, options)).field).toBe("final");
    expect(thrown(() => verifyChain({ ...bundle, kind: "single" }, options)).field).toBe("kind");
    expect(thrown(() => verifyChain({ ...bundle, chunks: [] }, options)).field).toBe("chunks");
    expect(thrown(() => verifyChain({ ...bundle, extra: 1 }, options)).field).toBe("extra");
    const short = { ...chunk(1), publicSignals: chunk(1).publicSignals.slice(1) };
    expect(thrown(() => verifyChain(withChunks([chunk(0), short]), options)).field).toBe(
      "chunks[1].publicSignals",
    );
    const offCurve = {
      ...chunk(2),
      proof: { ...chunk(2).proof, pi_c: ["1", "3", "1"] as [string, string, string] },
    };
    expect(thrown(() => verifyChain(withChunks([chunk(0), chunk(1), offCurve]), options)).field).toMatch(
      /^chunks\[2\]\.proof\.pi_c/,
    );
    expect(thrown(() => verifyChain({ ...bundle, finalCircuitId: "chunkfinal-c9-w16" }, options)).field).toBe(
      "finalCircuitId",
    );
    const text = JSON.stringify(bundle).replace('"kind":"chain"', '"kind":"chain","kind":"chain"');
    expect(thrown(() => verifyChain(text, options)).reason).toMatch(/strict JSON.*duplicate/i);
  });

  it("zktally verify accepts chain bundles and names the first bad chunk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "zktally-chain-"));
    try {
      const run = async (value: unknown) => {
        const file = join(dir, "bundle.json");
        await writeFile(file, JSON.stringify(value));
        const chunks: string[] = [];
        const write = (text: string) => {
          chunks.push(text);
        };
        const args = [file, "--keys", keysDir, "--operator-key", OPERATOR_KEY, "--allow-insecure-keys"];
        return { code: await runVerify(args, { out: write, err: write }), text: chunks.join("") };
      };
      const valid = await run(bundle);
      expect(valid.code).toBe(0);
      expect(valid.text).toMatch(/^VALID {2}dataset chain-bundle epoch 1: [\s\S]*chunks {5}4 /);
      const reordered = await run(withChunks([chunk(0), chunk(2), chunk(1), chunk(3)]));
      expect(reordered.code).toBe(1);
      expect(reordered.text).toMatch(/^INVALID .*\[check: chain\] \[chunk: 1\]/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("proveChain refuses chunks that are not the manifest's before proving anything", async () => {
    const committed = commit(1);
    const request = {
      manifest: manifestOf(commit(2), "chain-bundle", 2),
      committed,
      records,
      query,
      nonce: 1n,
      minGroupSize: 0,
      querySlots,
      vkeyHashes: { chunk: bundle.chunkVkeyHash, final: bundle.finalVkeyHash },
      prover: {
        name: "never",
        prove: () => Promise.reject(new Error("must not prove")),
        close: () => Promise.resolve(),
      },
    };
    await expect(proveChain(request)).rejects.toThrow(/not those of dataset chain-bundle epoch 2/);
    // records that are not the committed ones: the reference answer (0) differs from the planned one
    expect(bundle.answer.value).not.toBe("0");
    const fewer = {
      ...request,
      manifest: manifestOf(committed, "chain-bundle", 1),
      records: records.slice(0, 0),
    };
    await expect(proveChain(fewer)).rejects.toThrow(/reference evaluator/);
  });
});
