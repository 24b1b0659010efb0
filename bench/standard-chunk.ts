/**
 * @module bench/standard-chunk
 *
 * What bench:chunk-size and bench:scale share: the standard chunk shape of docs/design.md 7.6 (8 uint32
 * fields, key = field 0, C = 4 clauses of M = 4 constants, K = 4) at a chunk size S, its INSECURE
 * development keys (chunk and final circuit, cached under build/), deterministic synthetic records, a
 * benchmark query, chain tasks over an in-memory commitment, and the measured end-to-end chain: commit a
 * CSV of 2^k records into the encrypted chunk store (streaming), load every chunk back, prove one query as
 * a chain, verify the bundle with the SDK, and time each phase.
 *
 * SECURITY: development keys only (known toxic waste); the throw-away store and key file live in a temp
 * directory that is removed afterwards.
 */
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  type ChunkShape,
  chunkCircuitId,
  chunkQueryShape,
  finalCircuitId,
  finalShapeOf,
} from "../src/circuits/chunk-shape.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { type ChunkedCommitment, commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { generateDatasetSecret } from "../src/dataset/salt.ts";
import { parseSchema, type Schema } from "../src/dataset/schema.ts";
import type { ChunkProver, ChunkTask } from "../src/prover/chunks.ts";
import { proveChain } from "../src/prover/prove-chain.ts";
import { canonicalQuery } from "../src/query/canonical.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { keysManifestPath, loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureFinalMainFile } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { ChunkStoreReader, commitFileToChunkStore } from "../src/storage/chunk-store.ts";
import { KeyRing } from "../src/storage/keyring.ts";
import type { Progress } from "../src/util/progress.ts";
import { verifyGroth16 } from "../src/verifier/groth16.ts";
import { verifyChain } from "../src/verifier/verify-chain.ts";
import { prepareVerifyingKey, vkeyHash } from "../src/verifier/vkey.ts";
import { standardChunkShape } from "./prove-chunk.ts";

/** 8 uint32 fields f0..f7, f0 the key (strictly increasing). */
export const STANDARD_CHUNK_SCHEMA: Schema = parseSchema({
  fields: Array.from({ length: 8 }, (_, f) => ({ name: `f${f}`, type: "uint", bits: 32 })),
  key: "f0",
});

/** The standard chunk shape at chunk size S (bench/prove-chunk.ts; its schema is STANDARD_CHUNK_SCHEMA). */
export { standardChunkShape };

/** A two-clause sum query over the standard schema (about a quarter of the records match). */
export const BENCH_QUERY: Query = {
  predicate: [
    { field: "f1", op: "lt", value: 2 ** 31 },
    { field: "f2", op: "gte", value: 2 ** 31 },
  ],
  aggregate: { kind: "sum", field: "f3" },
};

/** Record i of the synthetic dataset: key 1000 + 3i, seven pseudo-random uint32 values (deterministic). */
export function syntheticRecord(i: number): bigint[] {
  const values = [BigInt(1000 + 3 * i)];
  let seed = (i * 2654435761 + 0x9e3779b9) >>> 0;
  for (let f = 1; f < 8; f++) {
    seed = (Math.imul(seed ^ (seed >>> 15), 2246822507) + f) >>> 0;
    values.push(BigInt(seed));
  }
  return values;
}

export interface ChainKeys {
  readonly keysDir: string;
  readonly chunkId: string;
  readonly finalId: string;
  readonly vkeyHashes: { readonly chunk: string; readonly final: string };
  /** The compiled chunk circuit's constraints. */
  readonly constraints: number;
  /** True when the chunk circuit's phase 2 came from the cache (nothing was computed). */
  readonly setupCached: boolean;
}

/** Builds (or reuses from the cache) INSECURE development keys of the shape's chunk and final circuits. */
export async function ensureChainKeys(
  shape: ChunkShape,
  keysDir: string,
  progress: Progress,
): Promise<ChainKeys> {
  const built = await buildDevKeys(
    [await ensureChunkMainFile(shape), await ensureFinalMainFile(finalShapeOf(shape))],
    { keysDir, progress, replace: true },
  );
  const chunkId = chunkCircuitId(shape);
  const finalId = finalCircuitId(finalShapeOf(shape));
  return {
    keysDir,
    chunkId,
    finalId,
    vkeyHashes: {
      chunk: vkeyHash(await loadPinnedVkey(keysDir, chunkId)),
      final: vkeyHash(await loadPinnedVkey(keysDir, finalId)),
    },
    constraints: built.circuits[0]?.compiled.constraints ?? 0,
    setupCached: built.circuits[0]?.keys.cached === true,
  };
}

/** The in-memory commitment of the first `count` synthetic records under the shape's layout. */
export async function commitSynthetic(shape: ChunkShape, count: number): Promise<ChunkedCommitment> {
  return commitChunks(await getPoseidon(), {
    layout: shape.layout,
    domains: shape.domains,
    keyField: shape.keyField,
    records: Array.from({ length: count }, (_, i) => syntheticRecord(i)),
    secret: new Uint8Array(32).fill(7),
    datasetId: "bench-chunks",
    epoch: 1,
  });
}

/** `count` chunk tasks of BENCH_QUERY over `count` full chunks (the chain's chunk steps, no final step). */
export async function chunkTasks(shape: ChunkShape, count: number): Promise<ChunkTask[]> {
  const committed = await commitSynthetic(shape, count * shape.layout.chunkSize);
  const schema = STANDARD_CHUNK_SCHEMA;
  const query = encodeQueryPublic(canonicalQuery(BENCH_QUERY, schema), schema, chunkQueryShape(shape));
  const plan = planChain(await getPoseidon(), shape, committed, { nonce: 4242n, query, minGroupSize: 0 });
  return plan.chunks.map((chunk) => ({
    circuitId: chunkCircuitId(shape),
    input: chunk.input as unknown as Record<string, unknown>,
    expectedPublicSignals: chunk.publicSignals,
  }));
}

export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function writeCsv(path: string, count: number): Promise<void> {
  const out = createWriteStream(path);
  out.write(`${STANDARD_CHUNK_SCHEMA.fields.map((field) => field.name).join(",")}\n`);
  for (let i = 0; i < count; i += 4096) {
    const rows: string[] = [];
    for (let j = i; j < Math.min(count, i + 4096); j++) rows.push(syntheticRecord(j).join(","));
    if (!out.write(`${rows.join("\n")}\n`))
      await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** Phase times (seconds) and bundle figures of one end-to-end chain. */
export interface EndToEnd {
  readonly records: number;
  readonly chunks: number;
  readonly commitSeconds: number;
  readonly loadSeconds: number;
  /** Proving: every chunk step and the final step (keys already loaded). */
  readonly proveSeconds: number;
  /** SDK `verifyChain`, median of `verifyRuns`. */
  readonly verifySeconds: number;
  /** The final proof alone (key preparation and one Groth16 check), median of `verifyRuns`. */
  readonly finalVerifySeconds: number;
  readonly bundleBytes: number;
  /** Bytes of one chunk entry (its public signals and proof, as JSON). */
  readonly chunkEntryBytes: number;
  readonly answer: string;
}

/**
 * Commits `count` synthetic records from a CSV file into a fresh chunk store (streaming), loads every chunk
 * back (decrypted, root-checked), proves BENCH_QUERY as a chain with `prover` and verifies it with the SDK.
 * Throws if the bundle does not verify.
 */
export async function endToEndChain(
  shape: ChunkShape,
  keys: ChainKeys,
  count: number,
  prover: ChunkProver,
  progress: Progress,
  verifyRuns = 3,
): Promise<EndToEnd> {
  const dir = await mkdtemp(join(tmpdir(), "zktally-bench-chain-"));
  try {
    const csv = join(dir, "records.csv");
    await writeCsv(csv, count);
    const ring = await KeyRing.create(join(dir, "keyring.json"));
    const operator = generateOperatorKey();
    const store = join(dir, "store");
    let start = performance.now();
    const committed = await commitFileToChunkStore(csv, store, ring, {
      datasetId: "bench-e2e",
      epoch: 1,
      schema: STANDARD_CHUNK_SCHEMA,
      layout: { chunkSize: shape.layout.chunkSize },
      secret: generateDatasetSecret(),
      operatorSecretKey: operator.secretKey,
      circuits: [keys.chunkId, keys.finalId],
    });
    const commitSeconds = (performance.now() - start) / 1000;
    progress(
      "e2e",
      `committed ${count} records in ${committed.chunkCount} chunks: ${commitSeconds.toFixed(2)} s`,
    );
    start = performance.now();
    const reader = await ChunkStoreReader.open(store, ring, operator.publicKey);
    const chunks = [];
    for (let c = 0; c < committed.chunkCount; c++) chunks.push(await reader.loadChunk(c));
    const records = chunks.flatMap((chunk) => chunk.values.slice(0, chunk.realRecords));
    const loadSeconds = (performance.now() - start) / 1000;
    start = performance.now();
    const bundle = await proveChain({
      manifest: committed.manifest,
      committed: { root: committed.root, recordCount: committed.recordCount, chunks },
      records,
      query: BENCH_QUERY,
      nonce: 77n,
      minGroupSize: 0,
      querySlots: { clauses: shape.clauses, setSize: shape.setSize },
      vkeyHashes: keys.vkeyHashes,
      prover,
      jobId: `bench-e2e-${process.pid}`,
      onProgress: (p) => {
        if (p.done % 16 === 0 || p.done === p.total) progress("e2e", `proved ${p.done}/${p.total}`);
      },
    });
    const proveSeconds = (performance.now() - start) / 1000;
    const text = JSON.stringify(bundle);
    const options = {
      keys: {
        [keys.chunkId]: await loadPinnedVkey(keys.keysDir, keys.chunkId),
        [keys.finalId]: await loadPinnedVkey(keys.keysDir, keys.finalId),
      },
      keysManifest: JSON.parse(await readFile(keysManifestPath(keys.keysDir), "utf8")),
      operatorKey: operator.publicKey,
      allowInsecureKeys: true,
    };
    const times: number[] = [];
    const finalTimes: number[] = [];
    for (let run = 0; run < verifyRuns; run++) {
      start = performance.now();
      const result = verifyChain(text, options);
      times.push((performance.now() - start) / 1000);
      if (!result.valid) throw new Error(`the end-to-end chain does not verify: ${result.reason}`);
      start = performance.now();
      const key = prepareVerifyingKey(options.keys[keys.finalId]);
      if (!verifyGroth16(key, bundle.final.publicSignals, bundle.final.proof))
        throw new Error("the final proof does not verify");
      finalTimes.push((performance.now() - start) / 1000);
    }
    return {
      records: count,
      chunks: committed.chunkCount,
      commitSeconds,
      loadSeconds,
      proveSeconds,
      verifySeconds: median(times),
      finalVerifySeconds: median(finalTimes),
      bundleBytes: Buffer.byteLength(text),
      chunkEntryBytes: Buffer.byteLength(JSON.stringify(bundle.chunks[0])),
      answer: `${bundle.answer.kind} = ${bundle.answer.suppressed ? "suppressed" : bundle.answer.value}`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bundle bytes and verify seconds of a chain of `chunks` chunks, projected linearly from a measured one. */
export function projectChain(
  measured: EndToEnd,
  chunks: number,
): { readonly bytes: number; readonly verifySeconds: number; readonly perChunkVerifySeconds: number } {
  // Per chunk: the chain's time less the final proof's; on a short, noisy chain, the chain's time per proof.
  const apart = (measured.verifySeconds - measured.finalVerifySeconds) / measured.chunks;
  const perChunkVerifySeconds = apart > 0 ? apart : measured.verifySeconds / (measured.chunks + 1);
  const fixedBytes = measured.bundleBytes - measured.chunks * measured.chunkEntryBytes;
  return {
    bytes: fixedBytes + chunks * measured.chunkEntryBytes,
    verifySeconds: measured.finalVerifySeconds + chunks * perChunkVerifySeconds,
    perChunkVerifySeconds,
  };
}

/** Where a measured end-to-end chain is recorded (bench:scale writes it, bench:chunk-size may reuse it). */
export function recordedChainPath(shape: ChunkShape, log: number): string {
  return join(buildRoot(), "bench-chain", `${chunkCircuitId(shape)}-2^${log}.json`);
}

export interface RecordedChain extends EndToEnd {
  readonly measuredAt: string;
  readonly load: number;
}

export async function recordChain(shape: ChunkShape, log: number, e2e: EndToEnd): Promise<void> {
  const file = recordedChainPath(shape, log);
  await mkdir(dirname(file), { recursive: true });
  const recorded: RecordedChain = { ...e2e, measuredAt: new Date().toISOString(), load: loadavg()[0] ?? 0 };
  await writeFile(file, `${JSON.stringify(recorded, null, 2)}\n`);
}

export async function recordedChain(shape: ChunkShape, log: number): Promise<RecordedChain | undefined> {
  const file = recordedChainPath(shape, log);
  return existsSync(file) ? (JSON.parse(await readFile(file, "utf8")) as RecordedChain) : undefined;
}
