/**
 * The audit log records decisions, not traffic: polling an unfinished job's bundle adds no entries, and
 * repeated refusals cannot grow the log without bound (one entry per partner, action and code per window,
 * carrying how many identical refusals the previous window dropped).
 */
import { describe, expect, it } from "vitest";
import type { ServiceConfigInput } from "../src/service/config.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  FR_COUNT,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  token,
} from "./helpers/service.ts";

const services = closedAfterAll();

async function setup(config: Partial<ServiceConfigInput> = {}) {
  const service = await startTestService({ config: { jobs: { concurrency: 0 }, ...config } });
  services.push(service);
  await addDataset(service, "ds-a", ROWS_A);
  const policy = { datasets: ["ds-a"], fields: ["country"], budget: { queries: 1, periodSeconds: 3600 } };
  const alice = await addPartner(service, "alice", ["queries:submit"], policy);
  return { service, accessToken: await token(service, alice) };
}

const auditSize = (service: TestService) => service.server.ctx.audit.log.size();

describe("audit volume", () => {
  it("polling an unfinished job's status and bundle adds no audit entries", async () => {
    const { service, accessToken } = await setup();
    const submitted = await service.api("POST", "/v1/queries", {
      token: accessToken,
      body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
    });
    expect(submitted.status).toBe(202);
    const before = auditSize(service);
    for (let i = 0; i < 25; i++) {
      const bundle = await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, {
        token: accessToken,
      });
      expect(bundle.status).toBe(409);
      expect(bundle.json.error).toBe("not_ready");
      expect(
        (await service.api("GET", `/v1/jobs/${submitted.json.jobId}`, { token: accessToken })).status,
      ).toBe(200);
    }
    expect(auditSize(service)).toBe(before);
  });

  it("repeated refusals add one entry per partner, action and code per window", async () => {
    const { service, accessToken } = await setup();
    const submit = () =>
      service.api("POST", "/v1/queries", {
        token: accessToken,
        body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
      });
    expect((await submit()).status).toBe(202); // the budget of 1 is now used
    const before = auditSize(service);
    for (let i = 0; i < 30; i++) {
      const refused = await submit();
      expect(refused.status).toBe(429);
      expect(refused.json.error).toBe("budget_exhausted");
      // A missing scope is refused too (a different action and code: its own window).
      expect((await service.api("GET", "/v1/receipts", { token: accessToken })).status).toBe(403);
    }
    const added = service.server.ctx.audit.log
      .entries(before)
      .map((entry) => JSON.parse(entry.entry))
      .map((entry) => `${entry.action} ${entry.decision} ${entry.details?.code}`);
    expect(added).toEqual([
      "query.submit refused budget_exhausted",
      "receipts.list refused insufficient_scope",
    ]);
  });

  it("after the window, the next refusal is logged with the number dropped before it", async () => {
    const { service, accessToken } = await setup({ auditRefusalWindowMs: 300 });
    const refusedReceipts = () => service.api("GET", "/v1/receipts", { token: accessToken });
    const before = auditSize(service);
    for (let i = 0; i < 5; i++) expect((await refusedReceipts()).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await refusedReceipts()).status).toBe(403);
    const details = service.server.ctx.audit.log
      .entries(before)
      .map((entry) => JSON.parse(entry.entry).details);
    expect(details).toEqual([
      expect.objectContaining({ code: "insufficient_scope" }),
      expect.objectContaining({ code: "insufficient_scope", suppressed: 4 }),
    ]);
  });
});
