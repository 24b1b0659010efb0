/**
 * The job queue's failure paths, in process: a crashed prover process is retried and the job answered once;
 * a graceful shutdown that cannot wait re-queues the running job for the next instance; a job that keeps
 * failing stops after `maxAttempts` and is refunded; a worker whose lease was taken over cannot answer.
 */
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ProverError } from "../src/prover/backend.ts";
import type { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { type JobRow, LeaseLostError } from "../src/service/jobs.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  FR_COUNT,
  failingBackend,
  ledgerState,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  tempDir,
  token,
  waitForJob,
} from "./helpers/service.ts";

const services = closedAfterAll();

async function setup(options: Parameters<typeof startTestService>[0] = {}, seed = true) {
  const service = await startTestService(options);
  services.push(service);
  if (seed) {
    await addDataset(service, "ds-a", ROWS_A);
    await addPartner(service, "alice", ["queries:submit"], {
      datasets: ["ds-a"],
      fields: ["country"],
      minGroupSize: 1,
    });
  }
  return service;
}

async function submit(service: TestService, accessToken: string) {
  const response = await service.api("POST", "/v1/queries", {
    token: accessToken,
    body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
  });
  expect(response.status).toBe(202);
  return response.json as { jobId: string; requestId: string };
}

async function waitForPhase(service: TestService, accessToken: string, jobId: string, phase: string) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { json } = await service.api("GET", `/v1/jobs/${jobId}`, { token: accessToken });
    if (json.progress.phase === phase) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`job never reached ${phase}`);
}

function answers(service: TestService, requestId: string) {
  return service.server.ctx.audit.log
    .findEntries({ requestId, limit: 100 })
    .map((entry) => JSON.parse(entry.entry))
    .filter((entry) => entry.action === "query.answer")
    .map((entry) => entry.decision);
}

describe("job failure paths", () => {
  it("a crashed prover process is retried: the job is proven again and answered once", async () => {
    const service = await setup();
    const accessToken = await token(service, { clientId: "alice", clientSecret: await rotate(service) });
    const job = await submit(service, accessToken);
    await waitForPhase(service, accessToken, job.jobId, "proving");
    const backend = service.server.backend as WorkerProverBackend;
    expect(backend.name).toBe("native-worker"); // the default where the native prover is built
    process.kill(backend.pid as number, "SIGKILL");
    const done = await waitForJob(service, accessToken, job.jobId);
    expect(done).toMatchObject({ state: "done", attempts: 2 });
    expect(backend.stats.workersStarted).toBe(2);
    const { db } = service.server.ctx;
    expect(db.prepare("SELECT COUNT(*) FROM bundles WHERE job_id = ?").pluck().get(job.jobId)).toBe(1);
    expect(db.prepare("SELECT state FROM budget_ledger WHERE job_id = ?").pluck().get(job.jobId)).toBe(
      "charged",
    );
    expect(answers(service, job.requestId)).toEqual(["accepted"]);
  });

  it("shutdown without time to drain re-queues the running job; the next instance answers it once", async () => {
    const dataDir = tempDir("drain");
    try {
      const first = await setup({ dataDir, config: { jobs: { drainTimeoutMs: 0 } } });
      const secret = await rotate(first);
      const accessToken = await token(first, { clientId: "alice", clientSecret: secret });
      const job = await submit(first, accessToken);
      await waitForPhase(first, accessToken, job.jobId, "proving");
      await first.close();
      const second = await setup({ dataDir }, false);
      const row = second.server.ctx.db
        .prepare("SELECT state, attempts FROM jobs WHERE job_id = ?")
        .get(job.jobId);
      expect(["queued", "running"]).toContain((row as JobRow).state);
      const done = await waitForJob(second, accessToken, job.jobId);
      expect(done).toMatchObject({ state: "done", attempts: 2 });
      expect(second.server.ctx.db.prepare("SELECT COUNT(*) FROM bundles").pluck().get()).toBe(1);
      expect(answers(second, job.requestId)).toEqual(["accepted"]);
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("a job that fails on every attempt stops after maxAttempts, refunded and logged as failed", async () => {
    const broken = failingBackend(() => new ProverError("prover exploded"));
    const service = await setup({ overrides: { backend: broken }, config: { jobs: { maxAttempts: 2 } } });
    const accessToken = await token(service, { clientId: "alice", clientSecret: await rotate(service) });
    const job = await submit(service, accessToken);
    const failed = await waitForJob(service, accessToken, job.jobId);
    expect(failed).toMatchObject({
      state: "failed",
      attempts: 2,
      error: { code: "attempts_exhausted", message: "the job failed repeatedly and was stopped" },
    });
    expect(broken.calls()).toBe(2);
    expect(ledgerState(service, job.jobId)).toBe("refunded");
    const { db } = service.server.ctx;
    expect(
      db.prepare("SELECT COUNT(*) FROM budget_ledger WHERE state IN ('reserved', 'charged')").pluck().get(),
    ).toBe(0);
    expect(answers(service, job.requestId)).toEqual(["failed"]);
    expect(JSON.stringify(failed)).not.toContain("exploded");
  });

  it("a worker whose lease expired and was taken over cannot answer; the new holder answers once", async () => {
    const service = await setup({ config: { jobs: { concurrency: 0 } } });
    const accessToken = await token(service, { clientId: "alice", clientSecret: await rotate(service) });
    const job = await submit(service, accessToken);
    const { jobs, db } = service.server.ctx;
    const stale = jobs.claim("worker-a", 60_000) as JobRow;
    expect(stale.job_id).toBe(job.jobId);
    db.prepare("UPDATE jobs SET lease_until = 0 WHERE job_id = ?").run(job.jobId); // worker-a stalled
    const fresh = jobs.claim("worker-b", 60_000) as JobRow;
    expect(fresh).toMatchObject({ job_id: job.jobId, attempts: 2, lease_owner: "worker-b" });
    const bundle = { format: "zktally-bundle/v1" } as never;
    expect(() => jobs.complete(stale, "worker-a", bundle)).toThrow(LeaseLostError);
    expect(() => jobs.fail(stale, "worker-a", "x", "y")).toThrow(LeaseLostError);
    expect(jobs.heartbeat(stale, "worker-a", 60_000)).toBe(false);
    jobs.complete(fresh, "worker-b", bundle);
    expect(() => jobs.complete(fresh, "worker-b", bundle)).toThrow(LeaseLostError);
    expect(db.prepare("SELECT COUNT(*) FROM bundles WHERE job_id = ?").pluck().get(job.jobId)).toBe(1);
    expect(answers(service, job.requestId)).toEqual(["accepted"]);
  });
});

/** A fresh secret for alice (the helper registered her without keeping it). */
function rotate(service: TestService): Promise<string> {
  return service.admin.rotateSecret(null, crypto.randomUUID(), "alice");
}
