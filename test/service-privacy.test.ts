/**
 * Privacy budgets and policy modes over real HTTP (issue 10, points 2 and 3). Admission only (no prover:
 * jobs are admitted and charged, not proven) on a clock the test moves:
 * - the query budget is a sliding window: spending it just before a clock boundary and again just after is
 *   refused (a fixed daily window allows a 2x burst there);
 * - dp partners: (epsilon, delta) per answer, charged atomically at admission (50 concurrent requests never
 *   overspend), composed over every epoch of a dataset, each charge in the signed audit log, reset only by
 *   an audited admin;
 * - exact partners: fields and operators per field, no clauses on the key field except membership, minimum
 *   range widths; every refusal identical on two datasets with different true answers;
 * - a replayed (same query, same nonce) submission returns its job and is not charged again.
 * The proven side (required clauses in the proven statement, the replay's identical bundle) is in
 * service-privacy-proofs.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  FR_COUNT,
  nonce,
  ROWS_A,
  ROWS_B,
  startTestService,
  type TestPartner,
  type TestService,
  token,
} from "./helpers/service.ts";

const SCOPES = ["datasets:read", "queries:submit", "audit:read"];
const DAY_MS = 86_400_000;
const services = closedAfterAll();
let service: TestService;
/** The service's clock: starts 10 s before a UTC midnight (a fixed daily window's boundary). */
let clock = Math.ceil(Date.now() / DAY_MS) * DAY_MS + 5 * DAY_MS - 10_000;

function submit(accessToken: string, body: Record<string, unknown>) {
  return service.api("POST", "/v1/queries", { token: accessToken, body });
}

function auditEntries(partner: string | null, action: string) {
  return service.server.ctx.audit.log
    .findEntries({ ...(partner === null ? {} : { partner }), limit: 1000 })
    .map((entry) => JSON.parse(entry.entry))
    .filter((entry) => entry.action === action);
}

const withoutRequestId = (json: Record<string, unknown>) => ({ ...json, requestId: undefined });

beforeAll(async () => {
  service = await startTestService({
    config: { jobs: { concurrency: 0, maxQueuedPerPartner: 200 } },
    overrides: { now: () => clock },
  });
  services.push(service);
  await addDataset(service, "ds-a", ROWS_A);
  await addDataset(service, "ds-b", ROWS_B);
});

describe("query budget: a sliding window", () => {
  it("a budget spent just before a clock boundary stays spent just after it, until the window has passed", async () => {
    const partner = await addPartner(service, "burst", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      budget: { queries: 3, periodSeconds: 86_400 },
    });
    const start = clock;
    let accessToken = await token(service, partner);
    for (let i = 0; i < 3; i++) {
      expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
        202,
      );
    }
    clock = start + 20_000; // 10 s past midnight: a fixed daily window would be fresh here
    accessToken = await token(service, partner);
    const refused = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toBe("budget_exhausted");
    expect(Number(refused.headers.get("retry-after"))).toBe(86_400 - 20);
    expect(refused.json.budget.resetsAt).toBe(new Date(start + DAY_MS).toISOString());
    const standing = await service.api("GET", "/v1/budget", { token: accessToken });
    expect(standing.json).toMatchObject({ mode: "exact", queries: 3, used: 3, remaining: 0 });

    clock = start + DAY_MS - 1; // the oldest admission is still inside the window
    accessToken = await token(service, partner);
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      429,
    );
    clock = start + DAY_MS + 1; // all three have left the window
    accessToken = await token(service, partner);
    for (let i = 0; i < 3; i++) {
      expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
        202,
      );
    }
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      429,
    );
  });

  it("a replayed submission (same query, same nonce) returns the same job and is not charged again", async () => {
    const partner = await addPartner(service, "replayer", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      budget: { queries: 2, periodSeconds: 3600 },
    });
    const accessToken = await token(service, partner);
    const mine = nonce();
    const first = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: mine });
    expect(first.status).toBe(202);
    for (let i = 0; i < 5; i++) {
      const again = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: mine });
      expect(again.status).toBe(202);
      expect(again.json).toMatchObject({ jobId: first.json.jobId, replayed: true });
    }
    const standing = await service.api("GET", "/v1/budget", { token: accessToken });
    expect(standing.json).toMatchObject({ used: 1, remaining: 1 });
    // A different query under the used nonce is not a replay.
    const other = { predicate: [{ field: "country", op: "eq", value: "DE" }], aggregate: { kind: "count" } };
    const conflict = await submit(accessToken, { datasetId: "ds-a", query: other, nonce: mine });
    expect(conflict.status).toBe(409);
    expect(conflict.json).toMatchObject({ error: "nonce_reused", jobId: first.json.jobId });
  });
});

describe("dp partners: an (epsilon, delta) budget per dataset", () => {
  const dpPolicy = {
    mode: "dp",
    datasets: ["ds-a", "ds-b"],
    fields: ["country", "bot"],
    aggregates: ["count"],
    dp: { epsilon: 0.1, delta: 1e-7 },
    privacyBudget: { epsilon: 1, delta: 1e-5 },
    budget: { queries: 1000, periodSeconds: 86_400 },
  };
  let dp: TestPartner;
  let dpToken: string;

  beforeAll(async () => {
    dp = await addPartner(service, "noisy", SCOPES, dpPolicy);
    dpToken = await token(service, dp);
  });

  it("50 concurrent requests against epsilon 1 at 0.1 each: exactly 10 admitted, each charge audited", async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        submit(dpToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 202)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(40);
    for (const response of responses.filter((r) => r.status === 429)) {
      expect(response.json.error).toBe("privacy_budget_exhausted");
      expect(response.json.privacyBudget).toMatchObject({ epsilon: 1, spentEpsilon: 1, remainingEpsilon: 0 });
    }
    const { db } = service.server.ctx;
    const spent = db
      .prepare(
        "SELECT SUM(epsilon_micros) FROM budget_ledger WHERE partner_id = 'noisy' AND state IN ('reserved', 'charged')",
      )
      .pluck()
      .get();
    expect(spent).toBe(1_000_000);
    const accepted = auditEntries("noisy", "query.submit").filter((entry) => entry.decision === "accepted");
    expect(accepted).toHaveLength(10);
    // Audit numbers are integers: epsilon in millionths, delta in 10^-15.
    expect(accepted.map((entry) => entry.details.epsilonMicros)).toEqual(Array(10).fill(100_000));
    expect(accepted.map((entry) => entry.details.deltaFemtos)).toEqual(Array(10).fill(100_000_000));
    const totals = accepted
      .map((entry) => entry.details.spentEpsilonMicros)
      .sort((x: number, y: number) => x - y);
    expect(totals).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * 100_000));
    // Noisy answers are proven under group size 0 (never suppressed on the true count).
    const groupSizes = db
      .prepare("SELECT DISTINCT min_group_size FROM jobs WHERE partner_id = 'noisy'")
      .pluck()
      .all();
    expect(groupSizes).toEqual([0]);
    const standing = await service.api("GET", "/v1/budget", { token: dpToken });
    expect(standing.json.mode).toBe("dp");
    expect(standing.json.privacy).toEqual([
      expect.objectContaining({ datasetId: "ds-a", spentEpsilon: 1, remainingEpsilon: 0 }),
      expect.objectContaining({ datasetId: "ds-b", spentEpsilon: 0, remainingEpsilon: 1 }),
    ]);
  });

  it("a new epoch of the dataset shares the budget (the same people are in it); another dataset has its own", async () => {
    await addDataset(service, "ds-a", ROWS_B); // epoch 2 of ds-a
    const refused = await submit(dpToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toBe("privacy_budget_exhausted");
    expect((await submit(dpToken, { datasetId: "ds-b", query: FR_COUNT, nonce: nonce() })).status).toBe(202);
  });

  it("a lifetime budget does not renew with time; only an audited admin reset restores it", async () => {
    clock += 365 * DAY_MS;
    dpToken = await token(service, dp);
    expect((await submit(dpToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(429);
    const bySelf = await service.api("POST", "/v1/admin/partners/noisy/budget/reset", { token: dpToken });
    expect(bySelf.status).toBe(403);
    service.admin.resetBudget("ops", crypto.randomUUID(), "noisy");
    expect(auditEntries("ops", "admin.budget.reset").at(-1)).toMatchObject({
      decision: "accepted",
      details: { clientId: "noisy" },
    });
    expect((await submit(dpToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(202);
  });

  it("a windowed privacy budget renews only when the charges leave the window", async () => {
    const windowed = await addPartner(service, "renewing", SCOPES, {
      ...dpPolicy,
      privacyBudget: { epsilon: 0.2, delta: 1e-5, windowSeconds: 3600 },
    });
    let accessToken = await token(service, windowed);
    const start = clock;
    for (const expected of [202, 202, 429]) {
      const response = await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() });
      expect(response.status).toBe(expected);
    }
    clock = start + 3_599_999;
    accessToken = await token(service, windowed);
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      429,
    );
    clock = start + 3_600_000; // the window is (now - 1 h, now]
    accessToken = await token(service, windowed);
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      202,
    );
  });

  it("privacy-budget refusals are the same on datasets whose true answers differ", async () => {
    const small = await addPartner(service, "one-each", SCOPES, {
      ...dpPolicy,
      privacyBudget: { epsilon: 0.1, delta: 1e-5 },
    });
    const accessToken = await token(service, small);
    const responses = [];
    for (const datasetId of ["ds-a", "ds-b"]) {
      expect((await submit(accessToken, { datasetId, query: FR_COUNT, nonce: nonce() })).status).toBe(202);
      responses.push(await submit(accessToken, { datasetId, query: FR_COUNT, nonce: nonce() }));
    }
    const [a, b] = responses.map((response) => ({
      status: response.status,
      body: withoutRequestId(JSON.parse(response.text.replaceAll("ds-a", "ds-?").replaceAll("ds-b", "ds-?"))),
    }));
    expect(a?.status).toBe(429);
    expect(a).toEqual(b);
  });

  it("dp policies must say what each answer costs and may only ask noisy aggregates", async () => {
    for (const [policy, path] of [
      [{ ...dpPolicy, dp: undefined }, "policy.dp"],
      [{ ...dpPolicy, privacyBudget: undefined }, "policy.privacyBudget"],
      [{ ...dpPolicy, aggregates: ["count", "membership"] }, "policy.aggregates"],
      [{ ...dpPolicy, dp: { epsilon: 0 } }, "policy.dp.epsilon"],
    ] as const) {
      await expect(
        service.admin.createPartner(null, crypto.randomUUID(), {
          clientId: "bad-dp",
          scopes: SCOPES,
          policy,
        }),
      ).rejects.toMatchObject({ code: "invalid_policy", path });
    }
  });
});

describe("exact partners: structural controls", () => {
  const loose = { predicate: [{ field: "bot", op: "eq", value: false }], aggregate: { kind: "count" } };
  const cases: { name: string; query: unknown; message: RegExp }[] = [
    {
      name: "a clause on the key field",
      query: {
        predicate: [...loose.predicate, { field: "userId", op: "neq", value: 51234 }],
        aggregate: loose.aggregate,
      },
      message: /key field userId/,
    },
    {
      name: "an operator not allowed on the field",
      query: { predicate: [{ field: "country", op: "neq", value: "FR" }], aggregate: { kind: "count" } },
      message: /operator neq on field country/,
    },
    {
      name: "a range narrower than the minimum width",
      query: {
        predicate: [{ field: "edits", op: "between", value: [100, 150] }],
        aggregate: { kind: "count" },
      },
      message: /selects 51 .* at least 1000/,
    },
    {
      name: "a range whose complement is narrower than the minimum width",
      query: { predicate: [{ field: "edits", op: "gte", value: 65000 }], aggregate: { kind: "count" } },
      message: /leaves out 65000|selects 536/,
    },
    {
      name: "a sum whose clause leaves out one value",
      query: {
        predicate: [{ field: "edits", op: "lte", value: 65534 }],
        aggregate: { kind: "sum", field: "edits" },
      },
      message: /leaves out 1 /,
    },
  ];

  it("refuses, with the same answer on two datasets whose true answers differ", async () => {
    const partner = await addPartner(service, "structured", SCOPES, {
      datasets: ["ds-a", "ds-b"],
      fields: ["userId", "country", "bot", "edits"],
      aggregates: ["count", "sum"],
      operators: { country: ["eq", "in"] },
      minRangeWidth: { edits: 1000 },
      minGroupSize: 2,
    });
    const accessToken = await token(service, partner);
    for (const testCase of cases) {
      const [a, b] = await Promise.all(
        ["ds-a", "ds-b"].map((datasetId) =>
          submit(accessToken, { datasetId, query: testCase.query, nonce: nonce() }),
        ),
      );
      expect(a?.status, testCase.name).toBe(403);
      expect(a?.json.error, testCase.name).toBe("policy_denied");
      expect(a?.json.message, testCase.name).toMatch(testCase.message);
      expect(withoutRequestId(a?.json), testCase.name).toEqual(withoutRequestId(b?.json));
    }
    // Allowed shapes pass: a wide range, an allowed operator, membership of a key.
    const wide = {
      predicate: [{ field: "edits", op: "between", value: [0, 20000] }],
      aggregate: { kind: "count" },
    };
    expect((await submit(accessToken, { datasetId: "ds-a", query: wide, nonce: nonce() })).status).toBe(202);
    expect((await submit(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() })).status).toBe(
      202,
    );
  });

  it("a loose policy (keyClauses: any, no operator or width limits) admits the same queries", async () => {
    const partner = await addPartner(service, "loose", SCOPES, {
      datasets: ["ds-a"],
      fields: ["userId", "country", "bot", "edits"],
      aggregates: ["count", "sum"],
      keyClauses: "any",
      minGroupSize: 2,
    });
    const accessToken = await token(service, partner);
    for (const testCase of cases) {
      const response = await submit(accessToken, {
        datasetId: "ds-a",
        query: testCase.query,
        nonce: nonce(),
      });
      expect(response.status, testCase.name).toBe(202);
    }
  });

  it("required clauses that do not fit a dataset's schema are the operator's error, not dropped", async () => {
    const partner = await addPartner(service, "misfit", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      requiredClauses: [{ field: "consent", op: "eq", value: true }],
    });
    const response = await submit(await token(service, partner), {
      datasetId: "ds-a",
      query: FR_COUNT,
      nonce: nonce(),
    });
    expect(response.status).toBe(409);
    expect(response.json.error).toBe("policy_mismatch");
  });
});
