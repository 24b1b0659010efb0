/**
 * Settings that bound the prover and the queue reach what they configure: `--prover-nice` /
 * `ZKTALLY_PROVER_NICE` is the niceness of the spawned prover process, and the per-partner and the global
 * queue limits have a flag, an environment variable and a config path each (`--max-queued-per-partner`,
 * `--max-queued`); the global limit refuses every partner with 503 once the service queue is full.
 */
import { getPriority } from "node:os";
import { describe, expect, it } from "vitest";
import type { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { configFromSources } from "../src/service/config.ts";
import { nativeBinary } from "./helpers/native.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  FR_COUNT,
  nonce,
  ROWS_A,
  startTestService,
  token,
} from "./helpers/service.ts";

const services = closedAfterAll();

describe("service limits", () => {
  it("the prover process runs at the configured niceness, with the native engine by default", async () => {
    // 19 can always be set (raising niceness needs no privilege), whatever the niceness of the test runner.
    expect(getPriority(process.pid)).toBeLessThan(19);
    nativeBinary(); // built (a no-op when up to date): no jobs.prover setting means native
    const service = await startTestService({ config: { jobs: { proverNice: 19 } } });
    services.push(service);
    const backend = service.server.backend as WorkerProverBackend;
    expect(backend.name).toBe("native-worker");
    expect(backend.pid).toBeTypeOf("number");
    expect(getPriority(backend.pid as number)).toBe(19);
  });

  it("per-partner and global queue limits each have a flag and an environment variable", () => {
    const fromFlags = configFromSources({ "max-queued-per-partner": "3", "max-queued": "50" }, {});
    expect(fromFlags.jobs).toMatchObject({ maxQueuedPerPartner: 3, maxQueued: 50 });
    const fromEnv = configFromSources({}, { ZKTALLY_MAX_QUEUED_PER_PARTNER: "4", ZKTALLY_MAX_QUEUED: "60" });
    expect(fromEnv.jobs).toMatchObject({ maxQueuedPerPartner: 4, maxQueued: 60 });
  });

  it("the global limit refuses every partner with 503 queue_full once the service queue is full", async () => {
    const service = await startTestService({
      config: { jobs: { concurrency: 0, maxQueued: 2, maxQueuedPerPartner: 10 } },
    });
    services.push(service);
    await addDataset(service, "ds-a", ROWS_A);
    const policy = { datasets: ["ds-a"], fields: ["country"] };
    const alice = await token(service, await addPartner(service, "alice", ["queries:submit"], policy));
    const bob = await token(service, await addPartner(service, "bob", ["queries:submit"], policy));
    const submit = (accessToken: string) =>
      service.api("POST", "/v1/queries", {
        token: accessToken,
        body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
      });
    expect((await submit(alice)).status).toBe(202);
    expect((await submit(bob)).status).toBe(202);
    const refused = await submit(bob);
    expect(refused.status).toBe(503);
    expect(refused.json.error).toBe("queue_full");
    expect(refused.headers.get("retry-after")).toBe("30");
  });
});
