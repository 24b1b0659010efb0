/**
 * The proven side of policies (issue 10, points 2 and 3), real proofs on TEST_SHAPE over real HTTP:
 * - clauses a policy adds to every query are part of the proven query: the bundle states them, the SDK's
 *   statement says them, and a bundle with a required clause taken out does not verify;
 * - the same query with the same nonce returns the same job and a byte-identical bundle, charged once;
 * - a dp job on a service whose circuit has no noise step fails (dp_unavailable), is refunded and is never
 *   answered exactly.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { verify } from "../src/verifier/verify-bundle.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  FR_COUNT,
  ledgerState,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const SCOPES = ["datasets:read", "queries:submit", "audit:read"];
const services = closedAfterAll();
let service: TestService;
let keys: Record<string, unknown>;
const keysManifest = JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, "manifest.json"), "utf8"));

const check = (bundle: unknown) =>
  verify(bundle, {
    keys,
    keysManifest,
    operatorKey: service.server.ctx.operatorKey,
    allowInsecureKeys: true,
  });

async function answered(accessToken: string, body: Record<string, unknown>) {
  const submitted = await service.api("POST", "/v1/queries", { token: accessToken, body });
  expect(submitted.status, submitted.text).toBe(202);
  const job = await waitForJob(service, accessToken, submitted.json.jobId);
  const bundle = await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, { token: accessToken });
  return { submitted: submitted.json, job, bundle };
}

beforeAll(async () => {
  service = await startTestService();
  services.push(service);
  await addDataset(service, "ds-a", ROWS_A);
  const { circuit } = service.server.ctx;
  keys = { [circuit.id]: circuit.vkey };
});

describe("required clauses", () => {
  it("are in the proven query: the bundle and the SDK's statement show them; removing one breaks the proof", async () => {
    const partner = await addPartner(service, "consenting", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      minGroupSize: 2,
      requiredClauses: [{ field: "bot", op: "eq", value: false }],
    });
    const accessToken = await token(service, partner);
    const { bundle } = await answered(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() });
    expect(bundle.status).toBe(200);
    // FR has 4 records in ds-a, one of them a bot: the policy's clause is applied (3, not 4).
    expect(bundle.json.answer).toEqual({ kind: "count", suppressed: false, value: "3" });
    expect(bundle.json.query.predicate).toEqual([
      { field: "country", op: "eq", value: "FR" },
      { field: "bot", op: "eq", value: false },
    ]);
    const result = check(bundle.json);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    if (!result.valid) return;
    expect(result.statement).toMatch(/bot/);
    const stripped = {
      ...bundle.json,
      query: { ...bundle.json.query, predicate: [bundle.json.query.predicate[0]] },
    };
    expect(check(stripped).valid).toBe(false);
  });
});

describe("replays", () => {
  it("the same query with the same nonce returns the same proof, charged once", async () => {
    const partner = await addPartner(service, "again", SCOPES, {
      datasets: ["ds-a"],
      fields: ["country"],
      minGroupSize: 2,
      budget: { queries: 5, periodSeconds: 3600 },
    });
    const accessToken = await token(service, partner);
    const mine = nonce();
    const first = await answered(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: mine });
    const second = await answered(accessToken, { datasetId: "ds-a", query: FR_COUNT, nonce: mine });
    expect(second.submitted).toMatchObject({ jobId: first.submitted.jobId, replayed: true });
    expect(second.bundle.text).toBe(first.bundle.text);
    expect(check(second.bundle.json).valid).toBe(true);
    const budget = await service.api("GET", "/v1/budget", { token: accessToken });
    expect(budget.json).toMatchObject({ used: 1, remaining: 4 });
    expect(ledgerState(service, first.submitted.jobId)).toBe("charged");
  });
});

describe("dp partners on a circuit without a noise step", () => {
  it("fail with dp_unavailable, refunded, never answered exactly", async () => {
    const partner = await addPartner(service, "noisy", SCOPES, {
      mode: "dp",
      datasets: ["ds-a"],
      fields: ["country"],
      aggregates: ["count"],
      dp: { epsilon: 0.5 },
      privacyBudget: { epsilon: 1 },
    });
    const accessToken = await token(service, partner);
    const { submitted, job, bundle } = await answered(accessToken, {
      datasetId: "ds-a",
      query: FR_COUNT,
      nonce: nonce(),
    });
    expect(job.state).toBe("failed");
    expect(job.error.code).toBe("dp_unavailable");
    expect(bundle.status).toBe(409);
    expect(ledgerState(service, submitted.jobId)).toBe("refunded");
    const budget = await service.api("GET", "/v1/budget", { token: accessToken });
    expect(budget.json.privacy).toEqual([expect.objectContaining({ datasetId: "ds-a", spentEpsilon: 0 })]);
  });
});
