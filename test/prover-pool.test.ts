/**
 * The local prover pool: chunk tasks proven by two prover processes come back in task order with the
 * expected public signals and verifying proofs, each process loads the keys once, progress counts every
 * chunk with a time-left estimate, and a poisoned chunk rejects the job naming the chunk. The service
 * shows chunk progress on the job status endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WitnessError } from "../src/prover/backend.ts";
import { type ChunkProgress, ChunkProgressTracker, formatChunkProgress } from "../src/prover/chunks.ts";
import { ProverPool } from "../src/prover/pool.ts";
import { verifyWithSnarkjs } from "../src/prover/snarkjs-backend.ts";
import { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { CHUNK_CIRCUIT_ID, type ChunkFixture, chunkFixture, poisoned } from "./helpers/chunk-tasks.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addDataset,
  addPartner,
  nonce,
  ROWS_A,
  startTestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

let fixture: ChunkFixture;
let pool: ProverPool;

beforeAll(async () => {
  fixture = await chunkFixture(4);
  pool = new ProverPool({ size: 2, create: () => new WorkerProverBackend({ keysDir: TEST_KEYS_DIR }) });
  await pool.load(CHUNK_CIRCUIT_ID);
});
afterAll(async () => {
  await pool?.close();
});

describe("ProverPool", () => {
  it("proves 4 chunks on 2 processes, results in task order, keys loaded once per process", async () => {
    const progress: ChunkProgress[] = [];
    const results = await pool.proveChunks({ id: "pool-test.1", tasks: fixture.tasks }, (p) =>
      progress.push(p),
    );
    const vkey = await loadPinnedVkey(TEST_KEYS_DIR, CHUNK_CIRCUIT_ID);
    expect(results.map((r) => r.publicSignals)).toEqual(fixture.tasks.map((t) => t.expectedPublicSignals));
    for (const result of results) {
      expect(await verifyWithSnarkjs(vkey, result.publicSignals, result.proof)).toBe(true);
    }
    expect(progress.map((p) => [p.done, p.total])).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
    expect(progress[0]?.etaMs).toBeGreaterThan(0);
    expect(progress[3]?.etaMs).toBe(0);
    expect(pool.provedBy.every((n) => n >= 1)).toBe(true);
    for (const backend of pool.backends as WorkerProverBackend[]) {
      expect(backend.stats.workersStarted).toBe(1);
    }
  });

  it("a poisoned chunk rejects the job with a WitnessError naming the chunk; the pool stays usable", async () => {
    const tasks = [...fixture.tasks];
    tasks[2] = poisoned(tasks[2] as (typeof tasks)[number]);
    const failure = await pool.proveChunks({ id: "pool-test.2", tasks }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WitnessError);
    expect((failure as WitnessError).reason).toMatch(/^chunk 3 of 4: Assert Failed/);
    expect((failure as Error).message).not.toMatch(/31337|48611/);
    const [again] = await pool.proveChunks({ id: "pool-test.3", tasks: fixture.tasks.slice(0, 1) });
    expect(again?.publicSignals).toEqual(fixture.tasks[0]?.expectedPublicSignals);
  });

  it("rejects malformed chunk jobs before proving", async () => {
    await expect(pool.proveChunks({ id: "bad id!", tasks: fixture.tasks })).rejects.toThrow(/chunk job id/);
    await expect(pool.proveChunks({ id: "empty", tasks: [] })).rejects.toThrow(/non-empty/);
  });
});

describe("chunk progress", () => {
  it("estimates the time left from the measured time per chunk", () => {
    let t = 1000;
    const tracker = new ChunkProgressTracker(4, () => t);
    expect(tracker.snapshot()).toEqual({ done: 0, total: 4, elapsedMs: 0, etaMs: undefined });
    t += 3000;
    expect(tracker.chunkDone()).toEqual({ done: 1, total: 4, elapsedMs: 3000, etaMs: 9000 });
    t += 1000;
    expect(tracker.chunkDone()).toMatchObject({ done: 2, etaMs: 4000 });
    expect(formatChunkProgress(tracker.snapshot())).toBe("chunks 2/4 done, about 4 s left");
    tracker.chunkDone();
    expect(formatChunkProgress(tracker.chunkDone())).toBe("chunks 4/4 done");
    expect(() => tracker.chunkDone()).toThrow(RangeError);
  });
});

describe("service job progress", () => {
  it("the job status shows chunks done / total; a pool of 2 provers answers", async () => {
    const service = await startTestService({ config: { jobs: { provers: 2 } } });
    try {
      expect(service.server.pool?.size).toBe(2);
      await addDataset(service, "ds-a", ROWS_A);
      const { clientSecret } = await addPartner(service, "alice", ["queries:submit"], {
        datasets: ["ds-a"],
        fields: ["country"],
        minGroupSize: 1,
      });
      const accessToken = await token(service, { clientId: "alice", clientSecret });
      const submitted = await service.api("POST", "/v1/queries", {
        token: accessToken,
        body: {
          datasetId: "ds-a",
          query: { predicate: [{ field: "country", op: "eq", value: "FR" }], aggregate: { kind: "count" } },
          nonce: nonce(),
        },
      });
      expect(submitted.status).toBe(202);
      const done = await waitForJob(service, accessToken, submitted.json.jobId);
      expect(done).toMatchObject({
        state: "done",
        progress: { phase: "done", percent: 100, chunks: { done: 1, total: 1 } },
      });
      expect(done.progress.etaSeconds).toBeUndefined();
    } finally {
      await service.close();
    }
  });
});
