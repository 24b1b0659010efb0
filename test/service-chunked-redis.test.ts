/**
 * The service with `--redis` proves a chunked (v2) dataset on a real `zktally worker` over BullMQ (the
 * machine's Redis): the service registers the 4-chunk dataset and stays the coordinator (admission, budget,
 * audit once per query); the worker proves all 5 tasks of the chain (4 chunks and the final step), each
 * result checked by the coordinator; the chain bundle verifies with the SDK and equals the reference
 * evaluator. (That inputs cross Redis only sealed is test/distributed-redis.test.ts's scan.) Skipped when Redis
 * does not answer (CI runs it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readableAnswer } from "../src/prover/prove-query.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { readKeysManifest } from "../src/setup/keys-manifest.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { verifyAny } from "../src/verifier/index.ts";
import {
  CHUNKED_SCHEMA,
  CHUNKED_SCHEMA_JSON,
  chunkedRows,
  chunkedServiceKeys,
  encodedRecords,
  TEST_CHUNKS,
} from "./helpers/chunked-service.ts";
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from "./helpers/redis.ts";
import {
  addPartner,
  nonce,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";
import { spawnWorker, type WorkerProcess } from "./helpers/worker-process.ts";

const available = await redisAvailable();
if (!available) console.warn(`service-chunked-redis: Redis at ${REDIS_URL} does not answer; skipped`);

const prefix = uniquePrefix();
const scratch = mkdtempSync(path.join(tmpdir(), "zktally-chunked-redis-"));
const ROWS = chunkedRows(61, 20_011);
let keysDir: string;
let service: TestService;
let worker: WorkerProcess;
let redis: Redis;

beforeAll(async () => {
  if (!available) return;
  keysDir = await chunkedServiceKeys("test-keys-service-chunked-redis");
  const dataDir = path.join(scratch, "svc");
  service = await startTestService({
    dataDir,
    config: {
      keysDir,
      chunks: TEST_CHUNKS,
      redis: { url: REDIS_URL, prefix },
      // The registration may build the development chain keys first (minutes on a cold build cache).
      requestTimeoutMs: 600_000,
    },
  });
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const admin = await token(service, await addPartner(service, "ops", ["admin"]));
  const registered = await service.api("POST", "/v1/admin/datasets", {
    token: admin,
    body: { datasetId: "editors-big", schema: CHUNKED_SCHEMA_JSON, rows: ROWS },
  });
  expect(registered.status, registered.text).toBe(201);
  // The worker gets the keys directory with the chain keys the registration pinned, and the workers' key file.
  worker = await spawnWorker([
    "--redis",
    REDIS_URL,
    "--keys",
    keysDir,
    "--key-file",
    path.join(dataDir, "worker-keyring.json"),
    "--prefix",
    prefix,
    "--lock-ms",
    "5000",
  ]);
}, 900_000);

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill("SIGTERM");
    await worker.exited;
  }
  await service?.close();
  if (redis) {
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
  rmSync(scratch, { recursive: true, force: true });
  await terminateCurveWorkers();
});

describe.skipIf(!available)("chunked datasets proven on BullMQ workers", () => {
  it("a worker proves every chunk and the final step; the chain bundle verifies with the reference answer", async () => {
    expect(service.server.pool).toBeUndefined();
    const partner = await addPartner(service, "wmde", ["datasets:read", "queries:submit"], {
      datasets: ["editors-big"],
      fields: ["country", "edits", "bot"],
      aggregates: ["count", "sum"],
      minGroupSize: 2,
    });
    const accessToken = await token(service, partner);
    const query = {
      predicate: [{ field: "bot", op: "eq", value: false }],
      aggregate: { kind: "sum", field: "edits" },
    } as const;
    const requestNonce = nonce();
    const submitted = await service.api("POST", "/v1/queries", {
      token: accessToken,
      body: { datasetId: "editors-big", query, nonce: requestNonce },
    });
    expect(submitted.status, submitted.text).toBe(202);
    const jobId = submitted.json.jobId as string;
    const done = await waitForJob(service, accessToken, jobId, 300_000);
    expect(done).toMatchObject({ state: "done", progress: { chunks: { done: 5, total: 5 } } });
    const proved = worker.lines
      .filter((line) => line.msg === "chunk proved" && line.chunkJobId === `${jobId}.1`)
      .map((line) => line.chunk as number)
      .sort((a, b) => a - b);
    expect(proved).toEqual([0, 1, 2, 3, 4]);
    const bundle = (await service.api("GET", `/v1/jobs/${jobId}/bundle`, { token: accessToken })).json;
    const circuits = (await service.api("GET", "/v1/circuits", { token: accessToken })).json.circuits as {
      circuitId: string;
      vkey: unknown;
    }[];
    const result = verifyAny(bundle, {
      keys: Object.fromEntries(circuits.map((c) => [c.circuitId, c.vkey])),
      keysManifest: await readKeysManifest(keysDir),
      operatorKey: service.server.ctx.operatorKey,
      expectedNonce: requestNonce,
      allowInsecureKeys: true,
    });
    expect(result, JSON.stringify(result)).toMatchObject({ valid: true, kind: "chain", chunkCount: 4 });
    const reference = evaluateQuery(query, CHUNKED_SCHEMA, encodedRecords(ROWS), { minGroupSize: 2 });
    expect(bundle.answer).toEqual(
      readableAnswer("sum", reference.suppressed ? 1n : 0n, reference.answer as bigint),
    );
  }, 600_000);
});
