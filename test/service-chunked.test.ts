/**
 * The service proves chunked (layout v2) datasets, over real HTTP on the chunk test shape (S = 16):
 * a 61-record dataset (4 chunks) registered through the admin API is committed in chunks (it does not fit
 * one instance of the served 8-record circuit) with development chain keys the service builds itself;
 * count, sum, threshold and membership queries are admitted once each (budget and audit per query), proven
 * as chains on the local prover pool with chunk progress on the job, and answered with zktally-bundle/v2
 * chain bundles that the SDK's verifyAny accepts (keys fetched from /v1/circuits and pinned against the
 * keys manifest) with the reference evaluator's answers; `zktally verify` and `zktally inspect` take them.
 * A poisoned chunk ends its job with proof_failed, refunded and audited. The command line's file
 * registration streams chunked files and keeps small ones single-instance; production mode without chain
 * keys refuses with circuit_keys_missing.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { serveCommand } from "../src/cli/commands/serve.ts";
import { runInspect, runVerify } from "../src/cli/verify-command.ts";
import type { ProveResult } from "../src/prover/backend.ts";
import { createProverBackend } from "../src/prover/backends.ts";
import type { ChunkJob, ChunkProgressListener, ChunkProver } from "../src/prover/chunks.ts";
import { ProverPool } from "../src/prover/pool.ts";
import { readableAnswer } from "../src/prover/prove-query.ts";
import { proverBackendName, resolveProverChoice } from "../src/prover/prover-choice.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { ensureChainCircuits } from "../src/service/chunk-circuits.ts";
import type { JobRow } from "../src/service/jobs.ts";
import { progressLine } from "../src/service/views.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { parseStrictJson } from "../src/util/strict-json.ts";
import { verifyAny } from "../src/verifier/index.ts";
import {
  CHUNKED_SCHEMA,
  CHUNKED_SCHEMA_JSON,
  chunkedRows,
  chunkedServiceKeys,
  encodedRecords,
  TEST_CHUNKS,
} from "./helpers/chunked-service.ts";
import { TEST_SHAPE } from "./helpers/circuits.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addPartner,
  ledgerState,
  nonce,
  startTestService,
  TEST_CIRCUIT,
  type TestService,
  testConfig,
  token,
  waitForJob,
} from "./helpers/service.ts";

const SCHEMA_JSON = CHUNKED_SCHEMA_JSON;
const SCHEMA = CHUNKED_SCHEMA;
const rowsOf = chunkedRows;
const ROWS = rowsOf(61);
const RECORDS = encodedRecords(ROWS);
let keysDir: string;

/** Wraps the pool; `poisonNext` makes chunk 2 of the next job violate a constraint (a flag of 2). */
class PoisoningProver implements ChunkProver {
  readonly name = "poisoning-pool";
  poisonNext = false;
  constructor(readonly pool: ProverPool) {}
  proveChunks(job: ChunkJob, onProgress?: ChunkProgressListener): Promise<ProveResult[]> {
    if (!this.poisonNext) return this.pool.proveChunks(job, onProgress);
    this.poisonNext = false;
    const tasks = job.tasks.map((task, index) => {
      if (index !== 2) return task;
      const input = structuredClone(task.input) as { flags: string[] };
      input.flags[0] = "2";
      return { ...task, input };
    });
    return this.pool.proveChunks({ ...job, tasks }, onProgress);
  }
  close(): Promise<void> {
    return this.pool.close();
  }
}

let service: TestService;
let prover: PoisoningProver;
let partnerToken: string;

beforeAll(async () => {
  keysDir = await chunkedServiceKeys("test-keys-service-chunked");
  const engine = resolveProverChoice(undefined, () => {});
  prover = new PoisoningProver(
    new ProverPool({
      size: 2,
      create: () => createProverBackend(proverBackendName(engine, "child-process"), { keysDir }),
    }),
  );
  service = await startTestService({
    // The registration may build the development chain keys first (minutes on a cold build cache).
    config: { keysDir, chunks: TEST_CHUNKS, requestTimeoutMs: 600_000 },
    overrides: { prover },
  });
  const admin = await addPartner(service, "ops", ["admin"]);
  const adminToken = await token(service, admin);
  const registered = await service.api("POST", "/v1/admin/datasets", {
    token: adminToken,
    body: { datasetId: "editors-big", schema: SCHEMA_JSON, rows: ROWS },
  });
  expect(registered.status, registered.text).toBe(201);
  const partner = await addPartner(
    service,
    "wmde",
    ["datasets:read", "queries:submit", "queries:membership", "audit:read"],
    {
      datasets: ["editors-big"],
      fields: ["userId", "country", "edits", "bot", "level"],
      aggregates: ["count", "sum", "threshold", "membership"],
      minGroupSize: 2,
      membership: { suppress: false },
      budget: { queries: 20, periodSeconds: 86_400 },
    },
  );
  partnerToken = await token(service, partner, "datasets:read queries:submit queries:membership audit:read");
}, 900_000);

afterAll(async () => {
  await service?.close();
  await terminateCurveWorkers();
});

const QUERIES = [
  {
    predicate: [
      { field: "country", op: "in", value: ["DE", "FR"] },
      { field: "edits", op: "gte", value: 100 },
    ],
    aggregate: { kind: "count" },
  },
  { predicate: [{ field: "bot", op: "eq", value: false }], aggregate: { kind: "sum", field: "edits" } },
  { predicate: [{ field: "level", op: "lt", value: 100 }], aggregate: { kind: "threshold", k: 20 } },
  {
    predicate: [{ field: "bot", op: "eq", value: true }],
    aggregate: { kind: "membership", key: 1000 + 7 * 35 },
  },
] as const;

async function submit(query: unknown) {
  const requestNonce = nonce();
  const submitted = await service.api("POST", "/v1/queries", {
    token: partnerToken,
    body: { datasetId: "editors-big", query, nonce: requestNonce },
  });
  expect(submitted.status, submitted.text).toBe(202);
  return {
    jobId: submitted.json.jobId as string,
    requestId: submitted.json.requestId as string,
    requestNonce,
  };
}

async function budgetUsed(): Promise<number> {
  return (await service.api("GET", "/v1/budget", { token: partnerToken })).json.used;
}

describe("chunked datasets in the service", () => {
  it("registers an upload larger than one circuit instance as a 4-chunk v2 dataset with pinned chain keys", async () => {
    const listed = await service.api("GET", "/v1/datasets/editors-big", { token: partnerToken });
    expect(listed.status).toBe(200);
    const { manifest } = listed.json;
    expect(manifest).toMatchObject({
      version: 2,
      recordCount: 61,
      chunkCount: 4,
      layout: { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 },
    });
    const circuits = await service.api("GET", "/v1/circuits", { token: partnerToken });
    const ids = circuits.json.circuits.map((c: { circuitId: string }) => c.circuitId);
    expect(ids).toEqual(expect.arrayContaining(manifest.circuits));
    // The served circuit, the chunk and final pair, and the clamped chunk and noisy final circuits (dp).
    expect(manifest.circuits).toHaveLength(4);
    expect(ids).toHaveLength(5);
  });

  it("answers count, sum, threshold and membership with chain bundles the SDK verifies, equal to the reference", async () => {
    const circuits = (await service.api("GET", "/v1/circuits", { token: partnerToken })).json.circuits as {
      circuitId: string;
      vkey: unknown;
    }[];
    const keys = Object.fromEntries(circuits.map((c) => [c.circuitId, c.vkey]));
    const keysManifest = JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8"));
    const operatorKey = (await service.api("GET", "/v1/datasets", { token: partnerToken })).json.operatorKey;
    const usedBefore = await budgetUsed();
    for (const query of QUERIES) {
      const { jobId, requestNonce } = await submit(query);
      const job = await waitForJob(service, partnerToken, jobId, 240_000);
      expect(job.state, JSON.stringify(job)).toBe("done");
      expect(job.progress.chunks).toEqual({ done: 5, total: 5 });
      const download = await service.api("GET", `/v1/jobs/${jobId}/bundle`, { token: partnerToken });
      expect(download.status).toBe(200);
      const bundle = parseStrictJson(download.text) as {
        format: string;
        chunks: unknown[];
        answer: unknown;
        minGroupSize: number;
      };
      expect(bundle.format).toBe("zktally-bundle/v2");
      expect(bundle.chunks).toHaveLength(4);
      const result = verifyAny(bundle, {
        keys,
        keysManifest,
        operatorKey,
        expectedNonce: requestNonce,
        allowInsecureKeys: true,
      });
      expect(result, JSON.stringify(result)).toMatchObject({ valid: true, kind: "chain", chunkCount: 4 });
      const reference = evaluateQuery(query, SCHEMA, RECORDS, { minGroupSize: bundle.minGroupSize });
      const answer = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
      expect(bundle.answer).toEqual(
        readableAnswer(query.aggregate.kind, reference.suppressed ? 1n : 0n, answer),
      );
      expect(ledgerState(service, jobId)).toBe("charged");
    }
    // Admission, budget and audit are per query, not per chunk.
    expect((await budgetUsed()) - usedBefore).toBe(QUERIES.length);
  }, 600_000);

  it("the command line shows a job's chunks done / total and the time left", async () => {
    const { jobId } = await submit(QUERIES[0]);
    expect((await waitForJob(service, partnerToken, jobId, 240_000)).state).toBe("done");
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const flags = ["--data-dir", service.dataDir, "--keys-dir", keysDir, "--circuit", TEST_CIRCUIT, "--dev"];
    try {
      expect(await serveCommand.run(["admin", "job", "show", "--id", jobId, ...flags])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const shown = JSON.parse(written.join(""));
    expect(shown).toMatchObject({ jobId, state: "done", progress: { chunks: { done: 5, total: 5 } } });
    expect(shown.progressLine).toBe("done: chunks 5/5 done");
    // While proving, the line carries the estimate (from the row the runner keeps up to date).
    const row = {
      ...(service.server.ctx.jobs.byId(jobId) as JobRow),
      phase: "proving",
      chunks_done: 2,
      eta_ms: 7_200,
    };
    expect(progressLine(row)).toBe("proving: chunks 2/5 done, about 8 s left");
  }, 300_000);

  it("zktally verify and zktally inspect take the chain bundle", async () => {
    const { jobId } = await submit(QUERIES[0]);
    expect((await waitForJob(service, partnerToken, jobId, 240_000)).state).toBe("done");
    const text = (await service.api("GET", `/v1/jobs/${jobId}/bundle`, { token: partnerToken })).text;
    const file = join(mkdtempSync(join(tmpdir(), "zktally-chain-")), "bundle.json");
    writeFileSync(file, text);
    const operatorKey = service.server.ctx.operatorKey;
    const captured = () => {
      const chunks: string[] = [];
      return { chunks, output: { out: (t: string) => chunks.push(t), err: (t: string) => chunks.push(t) } };
    };
    const verified = captured();
    const args = [file, "--keys", keysDir, "--operator-key", operatorKey, "--allow-insecure-keys"];
    expect(await runVerify(args, verified.output)).toBe(0);
    expect(verified.chunks.join("")).toMatch(
      /^VALID {2}dataset editors-big epoch 1: [\s\S]*chunks {5}4 \(circuit chunk-s16-b4-t1-c3-m3-k0-/,
    );
    const inspected = captured();
    expect(await runInspect([file], inspected.output)).toBe(0);
    expect(inspected.chunks.join("")).toMatch(
      /^NOT VERIFIED[\s\S]*chunks {5}4 \(circuit chunk-s16[\s\S]*final {6}chunkfinal-c3-w16/,
    );
    const json = captured();
    expect(await runInspect([file, "--json"], json.output)).toBe(0);
    expect(JSON.parse(json.chunks.join(""))).toMatchObject({
      verified: false,
      format: "zktally-bundle/v2",
      chunkCount: 4,
      datasetId: "editors-big",
      statementMatchesBundle: true,
    });
  }, 300_000);

  it("a failing chunk ends the job with proof_failed, refunded and audited", async () => {
    const usedBefore = await budgetUsed();
    prover.poisonNext = true;
    const { jobId, requestId } = await submit(QUERIES[1]);
    const job = await waitForJob(service, partnerToken, jobId, 240_000);
    expect(job).toMatchObject({ state: "failed", error: { code: "proof_failed" } });
    expect(job.attempts).toBe(1);
    expect(ledgerState(service, jobId)).toBe("refunded");
    expect(await budgetUsed()).toBe(usedBefore);
    const bundle = await service.api("GET", `/v1/jobs/${jobId}/bundle`, { token: partnerToken });
    expect(bundle.status).toBe(409);
    expect(bundle.json.error).toBe("job_failed");
    const receipts = await service.api("GET", `/v1/receipts/${requestId}`, { token: partnerToken });
    const decisions = receipts.json.receipts.map(
      (r: { entry: { action: string; decision: string } }) => `${r.entry.action}:${r.entry.decision}`,
    );
    expect(decisions).toEqual(["query.submit:accepted", "query.answer:failed"]);
    // No private value reaches the job, a response or a log line.
    const leaked = ROWS.slice(30, 40).map((row) => String(row.userId));
    for (const text of [JSON.stringify(job), service.logs.text()]) {
      for (const value of leaked) expect(text).not.toContain(`"${value}"`);
    }
  }, 300_000);

  it("registers files from the command line: chunked ones streamed, small ones in one circuit instance", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zktally-files-"));
    const csv = (rows: ReturnType<typeof rowsOf>) =>
      `userId,country,edits,bot,level\n${rows.map((r) => `${r.userId},${r.country},${r.edits},${r.bot},${r.level}`).join("\n")}\n`;
    const big = join(dir, "big.csv");
    writeFileSync(big, csv(rowsOf(40, 3000)));
    const streamed = await service.admin.registerDatasetFile(
      null,
      crypto.randomUUID(),
      { datasetId: "from-file", schema: SCHEMA_JSON },
      big,
    );
    expect(streamed.manifest).toMatchObject({ version: 2, recordCount: 40, chunkCount: 3 });
    const chunked = await service.server.ctx.datasets.loadChunked("from-file", 1);
    expect(chunked.records).toEqual(encodedRecords(rowsOf(40, 3000)));
    // The next epoch links to it (epoch chain), and shredding an epoch shreds its chunks (its key is gone).
    const next = await service.admin.registerDatasetFile(
      null,
      crypto.randomUUID(),
      { datasetId: "from-file", schema: SCHEMA_JSON },
      big,
    );
    expect(next.manifest).toMatchObject({
      version: 2,
      epoch: 2,
      previousManifestHash: streamed.manifestHash,
    });
    const { datasets, db } = service.server.ctx;
    db.transaction(() => datasets.shred("from-file", 1))();
    datasets.clearCache();
    await expect(datasets.loadChunked("from-file", 1)).rejects.toThrow(/shredded/);
    expect((await datasets.loadChunked("from-file", 2)).records).toHaveLength(40);
    // Erasure re-commits a chunked epoch as a chunked epoch without the erased records, shredding the old one.
    const erased = await service.admin.erase(null, crypto.randomUUID(), "from-file", {
      keys: [3000 + 7 * 5, 3000 + 7 * 20],
      force: true,
    });
    expect(erased).toMatchObject({ applied: true, epoch: 3, erased: 2 });
    const third = datasets.latest("from-file");
    expect(third?.manifest).toMatchObject({ version: 2, recordCount: 38, chunkCount: 3 });
    const kept = rowsOf(40, 3000).filter((_, i) => i !== 5 && i !== 20);
    expect((await datasets.loadChunked("from-file", 3)).records).toEqual(encodedRecords(kept));
    await expect(datasets.loadChunked("from-file", 2)).rejects.toThrow(/shredded/);
    // Four fields fit the served circuit (8 records of 4 fields): one instance, as before.
    const smallSchema = { fields: SCHEMA_JSON.fields.slice(0, 4), key: "userId" };
    const small = join(dir, "small.jsonl");
    writeFileSync(
      small,
      `${rowsOf(6, 5000)
        .map(({ level: _, ...r }) => JSON.stringify(r))
        .join("\n")}\n`,
    );
    const single = await service.admin.registerDatasetFile(
      null,
      crypto.randomUUID(),
      { datasetId: "small-file", schema: smallSchema },
      small,
    );
    expect(single.manifest).toMatchObject({ version: 1, recordCount: 6 });
    // Asking for one instance with more records than it holds is refused, naming the capacity.
    await expect(
      service.admin.registerDatasetFile(
        null,
        crypto.randomUUID(),
        { datasetId: "too-big", schema: SCHEMA_JSON, chunked: false },
        big,
      ),
    ).rejects.toMatchObject({ code: "invalid_dataset" });
    // A bad row anywhere leaves nothing behind (the chunk store is staged).
    const bad = join(dir, "bad.csv");
    writeFileSync(bad, csv(rowsOf(40, 7000)).replace(/\n7203,/, "\n7203x,"));
    await expect(
      service.admin.registerDatasetFile(
        null,
        crypto.randomUUID(),
        { datasetId: "bad-file", schema: SCHEMA_JSON },
        bad,
      ),
    ).rejects.toMatchObject({ code: "invalid_records" });
    expect(service.server.ctx.datasets.latest("bad-file")).toBeUndefined();
  }, 300_000);

  it("production mode without pinned chain keys refuses clearly (circuit_keys_missing)", async () => {
    const config = {
      ...testConfig(service.dataDir, { keysDir: TEST_KEYS_DIR }),
      mode: "production" as const,
    };
    await expect(
      ensureChainCircuits(
        config,
        SCHEMA,
        { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 },
        TEST_SHAPE,
      ),
    ).rejects.toMatchObject({
      code: "circuit_keys_missing",
      hint: expect.stringMatching(/zktally setup --ptau/),
    });
  });
});
