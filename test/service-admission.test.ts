/**
 * Admission control over real HTTP (no prover: this instance only accepts jobs): budgets are reserved
 * atomically (50 concurrent submissions never overspend), exhausted budgets refuse with 429 until an audited
 * admin reset, refusals depend only on the query, the policy and public state (two datasets with different
 * true counts give byte-identical refusals), nonces are canonical and single-use, queues are bounded,
 * client-supplied fields outside the query API are ignored, and a request whose decision cannot be written
 * to the audit log is refused with 503 and leaves no trace.
 */
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseFileOf } from "../src/service/config.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  MALFORMED_NONCES,
  nonce,
  ROWS_A,
  ROWS_B,
  startTestService,
  type TestService,
  token,
} from "./helpers/service.ts";

let service: TestService;
const SCOPES = ["datasets:read", "queries:submit", "audit:read"];

function submit(accessToken: string, body: Record<string, unknown>) {
  return service.api("POST", "/v1/queries", { token: accessToken, body });
}

function auditEntries(
  partner: string,
  action: string,
): { decision: string; details?: Record<string, unknown> }[] {
  return service.server.ctx.audit.log
    .findEntries({ partner, limit: 1000 })
    .map((entry) => JSON.parse(entry.entry))
    .filter((entry) => entry.action === action);
}

const withoutRequestId = (json: Record<string, unknown>) => ({ ...json, requestId: undefined });

beforeAll(async () => {
  service = await startTestService({ config: { jobs: { concurrency: 0, maxQueuedPerPartner: 100 } } });
  await addDataset(service, "ds-a", ROWS_A);
  await addDataset(service, "ds-b", ROWS_B);
});

afterAll(async () => {
  await service?.close();
});

describe("budgets", () => {
  it("50 concurrent submissions against a budget of 10: exactly 10 admitted, 40 refused, no overspend", async () => {
    const partner = await addPartner(service, "racer", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      budget: { queries: 10, periodSeconds: 3600 },
    });
    const accessToken = await token(service, partner);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 202)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(40);
    for (const response of responses.filter((r) => r.status === 429)) {
      expect(response.json.error).toBe("budget_exhausted");
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    const { db } = service.server.ctx;
    expect(db.prepare("SELECT COUNT(*) FROM jobs WHERE partner_id = 'racer'").pluck().get()).toBe(10);
    expect(
      db
        .prepare("SELECT COUNT(*) FROM budget_ledger WHERE partner_id = 'racer' AND state = 'reserved'")
        .pluck()
        .get(),
    ).toBe(10);
    const decisions = auditEntries("racer", "query.submit").map((entry) => entry.decision);
    expect(decisions.filter((d) => d === "accepted")).toHaveLength(10);
    // Identical refusals are audited once per window (the rest are counted): the log stays bounded.
    expect(decisions.filter((d) => d === "refused")).toHaveLength(1);
    const budget = await service.api("GET", "/v1/budget", { token: accessToken });
    expect(budget.json).toMatchObject({ queries: 10, used: 10, remaining: 0 });
  });

  it("an exhausted budget refuses until an admin reset, which is audited", async () => {
    const partner = await addPartner(service, "frugal", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      budget: { queries: 2, periodSeconds: 86_400 },
    });
    const accessToken = await token(service, partner);
    for (let i = 0; i < 2; i++) {
      expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
        202,
      );
    }
    const refused = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() });
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({
      error: "budget_exhausted",
      budget: { queries: 2, periodSeconds: 86_400 },
    });
    // The partner cannot raise its own budget: there is no such endpoint for it.
    expect(
      (await service.api("POST", "/v1/admin/partners/frugal/budget/reset", { token: accessToken })).status,
    ).toBe(403);
    const reset = service.admin.resetBudget("ops", crypto.randomUUID(), "frugal");
    expect(reset.previouslyUsed).toBe(2);
    expect(auditEntries("ops", "admin.budget.reset")).toHaveLength(1);
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      202,
    );
  });
});

describe("refusals depend only on the query, the policy and public state", () => {
  it("datasets with different true counts give identical answers to the same request", async () => {
    const partner = await addPartner(service, "curious", SCOPES, {
      datasets: ["ds-a", "ds-b"],
      fields: ["country", "bot"],
      aggregates: ["count"],
      minGroupSize: 3,
      budget: { queries: 4, periodSeconds: 3600 },
    });
    const broke = await addPartner(service, "broke", SCOPES, {
      datasets: ["ds-a", "ds-b"],
      fields: ["country", "bot"],
      budget: { queries: 0, periodSeconds: 3600 },
    });
    const accessToken = await token(service, partner);
    const brokeToken = await token(service, broke);
    const cases: { name: string; accessToken: string; query: unknown; status: number }[] = [
      {
        name: "field not allowed",
        accessToken,
        query: { predicate: [{ field: "edits", op: "gt", value: 5 }], aggregate: { kind: "count" } },
        status: 403,
      },
      {
        name: "aggregate not allowed",
        accessToken,
        query: { predicate: [], aggregate: { kind: "sum", field: "edits" } },
        status: 403,
      },
      {
        name: "bad value",
        accessToken,
        query: { predicate: [{ field: "country", op: "eq", value: "XX" }], aggregate: { kind: "count" } },
        status: 400,
      },
      {
        name: "too many clauses for the circuit",
        accessToken,
        query: {
          predicate: [
            { field: "country", op: "neq", value: "FR" },
            { field: "country", op: "neq", value: "DE" },
            { field: "country", op: "neq", value: "US" },
            { field: "bot", op: "eq", value: false },
          ],
          aggregate: { kind: "count" },
        },
        status: 400,
      },
      {
        name: "unknown field",
        accessToken,
        query: { predicate: [{ field: "salary", op: "gt", value: 1 }], aggregate: { kind: "count" } },
        status: 400,
      },
      { name: "budget exhausted", accessToken: brokeToken, query: FR_COUNT, status: 429 },
    ];
    for (const testCase of cases) {
      const [a, b] = await Promise.all(
        ["ds-a", "ds-b"].map((datasetId) =>
          submit(testCase.accessToken, { datasetId, query: testCase.query, nonce: nonce() }),
        ),
      );
      expect(a?.status, testCase.name).toBe(testCase.status);
      expect(b?.status, testCase.name).toBe(testCase.status);
      expect(withoutRequestId(a?.json), testCase.name).toEqual(withoutRequestId(b?.json));
      expect(a?.headers.get("retry-after") === null, testCase.name).toBe(
        b?.headers.get("retry-after") === null,
      );
    }
    // Admission of answerable queries does not depend on the data either: FR matches 4 records in ds-a and 1 in
    // ds-b (below the group size 3), yet both are accepted; suppression happens inside the proof.
    for (const datasetId of ["ds-a", "ds-b"]) {
      expect((await submit(accessToken, { datasetId, query: FR_COUNT, nonce: nonce() })).status).toBe(202);
    }
  });

  it("a dataset outside the policy is indistinguishable from an unknown one", async () => {
    const partner = await addPartner(service, "narrow", SCOPES, { datasets: ["ds-a"], fields: ["country"] });
    const accessToken = await token(service, partner);
    const hidden = await submit(accessToken, { datasetId: "ds-b", query: FR_COUNT, nonce: nonce() });
    const missing = await submit(accessToken, { datasetId: "ds-x", query: FR_COUNT, nonce: nonce() });
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect({ ...withoutRequestId(hidden.json), message: "" }).toEqual({
      ...withoutRequestId(missing.json),
      message: "",
    });
    const listed = await service.api("GET", "/v1/datasets", { token: accessToken });
    expect(listed.json.datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(["ds-a"]);
    expect((await service.api("GET", "/v1/datasets/ds-b", { token: accessToken })).status).toBe(404);
  });
});

describe("request hygiene", () => {
  let accessToken: string;
  beforeAll(async () => {
    const partner = await addPartner(service, "careful", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      minGroupSize: 4,
      budget: { queries: 50, periodSeconds: 3600 },
    });
    accessToken = await token(service, partner);
  });

  it("nonces must be canonical field elements and are single-use per partner (a replay returns the job)", async () => {
    const bad = [
      ...MALFORMED_NONCES,
      "21888242871839275222246405745257275088548364400416034343698204186575808495617",
    ];
    for (const value of bad) {
      const response = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: value });
      expect(response.status, value).toBe(400);
      expect(response.json.error).toBe("invalid_request");
    }
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: 7 })).status).toBe(400);
    const fresh = nonce();
    const first = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: fresh });
    expect(first.status).toBe(202);
    const replay = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: fresh });
    expect(replay.status).toBe(202);
    expect(replay.json).toMatchObject({ jobId: first.json.jobId, replayed: true });
    const other = { predicate: [{ field: "country", op: "eq", value: "DE" }], aggregate: { kind: "count" } };
    const again = await submit(accessToken, { datasetId: "ds-a", query: other, nonce: fresh });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ error: "nonce_reused", jobId: first.json.jobId });
  });

  it("client-supplied fields outside the query API are dropped (mass assignment)", async () => {
    const response = await submit(accessToken, {
      datasetId: "ds-a",
      query: FR_COUNT,
      nonce: nonce(),
      minGroupSize: 0,
      budget: { queries: 999 },
      partnerId: "racer",
      role: "admin",
      // (epoch is part of the query API since issue 13: an older, retained epoch may be named.)
      circuitId: "aggregate-64x8x4",
      state: "done",
    });
    expect(response.status).toBe(202);
    const row = service.server.ctx.db
      .prepare("SELECT * FROM jobs WHERE job_id = ?")
      .get(response.json.jobId) as Record<string, unknown>;
    expect(row).toMatchObject({
      partner_id: "careful",
      min_group_size: 4,
      epoch: 1,
      state: "queued",
      attempts: 0,
      circuit_id: service.server.ctx.circuit.id,
    });
  });

  it("bounds the number of open jobs per partner (429 queue_full)", async () => {
    const limited = await startTestService({ config: { jobs: { concurrency: 0, maxQueuedPerPartner: 3 } } });
    try {
      await addDataset(limited, "ds-a", ROWS_A);
      const partner = await addPartner(limited, "busy", SCOPES, { datasets: ["ds-a"], fields: ["country"] });
      const busyToken = await token(limited, partner);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await limited.api("POST", "/v1/queries", {
          token: busyToken,
          body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
        });
        statuses.push(response.status);
        if (response.status === 429) expect(response.json.error).toBe("queue_full");
      }
      expect(statuses).toEqual([202, 202, 202, 429]);
    } finally {
      await limited.close();
    }
  });

  it("refuses with 503 and changes nothing when the audit log cannot be written", async () => {
    const before = service.server.ctx.db.prepare("SELECT COUNT(*) FROM jobs").pluck().get();
    const budgetBefore = (await service.api("GET", "/v1/budget", { token: accessToken })).json.used;
    const sizeBefore = service.server.ctx.audit.log.size();
    // Another connection to the same file makes every audit insert fail (a full disk, a locked file ...).
    const saboteur = new Database(databaseFileOf(service.server.ctx.config));
    saboteur.exec(
      "CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    );
    try {
      const refused = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() });
      expect(refused.status).toBe(503);
      expect(refused.json.error).toBe("audit_unavailable");
      expect(refused.text).not.toContain("disk full");
      const tokenRefused = await service.api("POST", "/oauth/token", {
        rawBody: "grant_type=client_credentials&client_id=careful&client_secret=wrong",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(tokenRefused.status).toBe(503);
    } finally {
      saboteur.exec("DROP TRIGGER audit_down");
      saboteur.close();
    }
    expect(service.server.ctx.db.prepare("SELECT COUNT(*) FROM jobs").pluck().get()).toBe(before);
    expect((await service.api("GET", "/v1/budget", { token: accessToken })).json.used).toBe(budgetBefore);
    expect(service.server.ctx.audit.log.size()).toBe(sizeBefore);
    expect(service.logs.text()).toContain("audit log write failed");
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      202,
    );
  });
});
