/**
 * Noisy histogram cells for dp partners through the service (issue 10 point 1; docs/privacy.md "Noisy
 * histograms through the service"): with config `pass.dp` the chunked manifest announces the PassFinalNoisy
 * of the served pass shape (here the release tests' circuits: S = 16, Q = H = 2, G = 8, 128 coins, so the keys
 * of test/helpers/release-service.ts are reused and only the exact PassFinal is added). A dp partner's pass of
 * count histograms is admitted, charged (epsilon, delta) once per histogram and audited, proven by
 * `proveNoisyHistograms` into a dp-histogram bundle the SDK verifies; a replay is the same bundle, charged
 * once; a pass the privacy budget cannot pay is refused without charge; a sum histogram or a non-histogram
 * query from a dp partner is refused naming the query; an exact partner's pass is still an exact pass bundle.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEntries } from "../src/audit/store.ts";
import { chainCircuitIds } from "../src/service/chunk-circuits.ts";
import { configFromSources } from "../src/service/config.ts";
import { readKeysManifest } from "../src/setup/keys-manifest.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { verifyDpHistogram } from "../src/verifier/index.ts";
import { RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE, TEST_SHAPE } from "./helpers/circuits.ts";
import {
  DP_PASS_CONFIG,
  RELEASE_ROWS,
  RELEASE_SCHEMA_JSON,
  releaseServiceConfig,
  releaseServiceKeys,
} from "./helpers/release-service.ts";
import {
  addPartner,
  ledgerState,
  nonce,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const SCOPES = ["datasets:read", "queries:submit"];
const FIELDS = ["wiki", "country", "activity", "edits"];
/** Each histogram costs (2, 1e-6): a pass of two costs 4 of 5, a third histogram is refused. */
const DP_POLICY = {
  mode: "dp",
  datasets: ["geo"],
  fields: FIELDS,
  aggregates: ["count", "histogram"],
  dp: { epsilon: 2, delta: 1e-6 },
  privacyBudget: { epsilon: 5, delta: 1e-4 },
};
const ENWIKI_TABLE = {
  predicate: [{ field: "wiki", op: "eq", value: "enwiki" }],
  aggregate: { kind: "histogram", by: ["country", "activity"] },
};
const COUNTRY_TABLE = { predicate: [], aggregate: { kind: "histogram", by: ["country"] } };

let service: TestService;
let keysDir: string;
let dpToken: string;
let exactToken: string;
let paddedToken: string;

beforeAll(async () => {
  keysDir = await releaseServiceKeys("test-keys-dp-pass-service", true);
  service = await startTestService({
    config: {
      ...releaseServiceConfig(keysDir, { epsilon: 5, delta: 1e-5 }),
      pass: DP_PASS_CONFIG,
      // waitForJob polls every 50 ms: a slow proof must not hit the per-client limit.
      rateLimit: { windowMs: 60_000, max: 100_000 },
    },
  });
  const admin = await token(service, await addPartner(service, "ops", ["admin"]));
  const registered = await service.api("POST", "/v1/admin/datasets", {
    token: admin,
    body: { datasetId: "geo", schema: RELEASE_SCHEMA_JSON, rows: RELEASE_ROWS, chunked: true },
  });
  expect(registered.status, registered.text).toBe(201);
  dpToken = await token(service, await addPartner(service, "noisy", SCOPES, DP_POLICY));
  paddedToken = await token(service, await addPartner(service, "noisy-one", SCOPES, DP_POLICY));
  exactToken = await token(
    service,
    await addPartner(service, "exact", SCOPES, {
      datasets: ["geo"],
      fields: FIELDS,
      aggregates: ["count", "histogram"],
      minGroupSize: 3,
    }),
  );
}, 1_800_000);

afterAll(async () => {
  await service?.close();
  await terminateCurveWorkers();
});

const submit = (queries: unknown[], bearer = dpToken, requestNonce = nonce()) =>
  service.api("POST", "/v1/passes", {
    token: bearer,
    body: { datasetId: "geo", queries, nonce: requestNonce },
  });

async function spentEpsilon(): Promise<number> {
  const budget = (await service.api("GET", "/v1/budget", { token: dpToken })).json;
  return budget.privacy?.[0]?.spentEpsilon ?? 0;
}

/** The accepted submission audit entries of the dp partner. */
function submitEntries(): { details: Record<string, unknown> }[] {
  return readEntries(service.server.ctx.db)
    .map((stored) => JSON.parse(stored.entry))
    .filter((entry) => entry.action === "query.submit" && entry.decision === "accepted")
    .filter((entry) => entry.partner === "noisy");
}

describe("noisy histograms for dp partners", () => {
  it("announces the noisy pass final of the served pass shape in the chunked manifest", async () => {
    const { manifest } = (await service.api("GET", "/v1/datasets/geo", { token: dpToken })).json;
    const ids = chainCircuitIds(
      RELEASE_TEST_SCHEMA,
      RELEASE_TEST_SHAPE.pass.chunk.layout,
      TEST_SHAPE,
      undefined,
      DP_PASS_CONFIG,
    );
    expect(ids.pass?.noisy?.finalId).toBe("passfinaldp-q2-h2-g8-c3-w16-f5-n128-j2");
    expect(manifest.circuits).toEqual(
      expect.arrayContaining([ids.pass?.stepId, ids.pass?.finalId, ids.pass?.noisy?.finalId]),
    );
  });

  it("refuses a sum histogram and a non-histogram query from a dp partner, naming the query", async () => {
    const sum = await submit([{ ...COUNTRY_TABLE, aggregate: { ...COUNTRY_TABLE.aggregate, sum: "edits" } }]);
    expect(sum.status, sum.text).toBe(403);
    expect(sum.json).toMatchObject({ error: "policy_denied", path: "queries[0].aggregate.sum" });
    expect(sum.json.message).toMatch(/noisy counts.*clamping/);
    const count = await submit([COUNTRY_TABLE, { predicate: [], aggregate: { kind: "count" } }]);
    expect(count.status, count.text).toBe(403);
    expect(count.json.message).toMatch(/queries\[1\]: in dp mode a pass answers count histograms only/);
    const many = await submit([COUNTRY_TABLE, COUNTRY_TABLE, ENWIKI_TABLE]);
    expect(many.status, many.text).toBe(400);
    expect(await spentEpsilon()).toBe(0);
  });

  it("proves two count histograms into a dp-histogram bundle the SDK verifies, charged once per histogram", async () => {
    const requestNonce = nonce();
    const submitted = await submit([ENWIKI_TABLE, COUNTRY_TABLE], dpToken, requestNonce);
    expect(submitted.status, submitted.text).toBe(202);
    expect(await spentEpsilon()).toBe(4);
    const job = await waitForJob(service, dpToken, submitted.json.jobId, 1_200_000);
    expect(job, JSON.stringify(job)).toMatchObject({ state: "done", kind: "pass" });
    const text = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: dpToken })).text;
    const listing = (await service.api("GET", "/v1/circuits", { token: dpToken })).json.circuits as {
      circuitId: string;
      vkey: unknown;
    }[];
    const result = verifyDpHistogram(JSON.parse(text), {
      keys: Object.fromEntries(listing.map((c) => [c.circuitId, c.vkey])),
      keysManifest: (await readKeysManifest(keysDir)) as NonNullable<
        Awaited<ReturnType<typeof readKeysManifest>>
      >,
      operatorKey: service.server.ctx.operatorKey,
      expectedNonce: requestNonce,
      allowInsecureKeys: true,
    });
    if (!result.valid) throw new Error(`${result.check}: ${result.reason}`);
    expect(result.privacy).toMatchObject({
      mechanism: "binomial-dither/v1",
      tiers: [{ name: "policy", epsilon: "2" }],
    });
    expect(Number(result.privacy.tiers[0]?.delta)).toBeLessThanOrEqual(1e-6);
    expect(result.answers.map((answer) => answer.cells.length)).toEqual([8, 4]);
    expect(result.statements[0]).toMatch(/noisy/);
    expect(ledgerState(service, job.jobId)).toBe("charged");
    const entries = submitEntries();
    expect(entries.map((entry) => [entry.details.query, entry.details.epsilonMicros])).toEqual([
      [0, 4_000_000],
      [1, 4_000_000],
    ]);

    const replay = await submit([ENWIKI_TABLE, COUNTRY_TABLE], dpToken, requestNonce);
    expect(replay.json).toMatchObject({ jobId: job.jobId, replayed: true });
    const again = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: dpToken })).text;
    expect(again).toBe(text);
    expect(await spentEpsilon()).toBe(4);
    // The replay is audited as such, with no charge of its own.
    expect(submitEntries().map((entry) => entry.details.replayed ?? false)).toEqual([false, false, true]);
    expect(submitEntries()[2]?.details.epsilonMicros).toBeUndefined();
  }, 1_800_000);

  it("refuses a histogram the privacy budget cannot pay, charging nothing", async () => {
    const refused = await submit([COUNTRY_TABLE]);
    expect(refused.status, refused.text).toBe(429);
    expect(refused.json.error).toBe("privacy_budget_exhausted");
    expect(await spentEpsilon()).toBe(4);
  });

  it("pads one histogram to H tables with the same noise, charged once", async () => {
    const submitted = await submit([COUNTRY_TABLE], paddedToken);
    expect(submitted.status, submitted.text).toBe(202);
    const job = await waitForJob(service, paddedToken, submitted.json.jobId, 1_200_000);
    expect(job, JSON.stringify(job)).toMatchObject({ state: "done", kind: "pass" });
    const bundle = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: paddedToken })).json;
    expect(bundle.kind).toBe("dp-histogram");
    expect(bundle.answers).toHaveLength(2);
    expect(bundle.answers[1]).toEqual(bundle.answers[0]);
    const budget = (await service.api("GET", "/v1/budget", { token: paddedToken })).json;
    expect(budget.privacy[0].spentEpsilon).toBe(2);
  }, 1_800_000);

  it("still answers an exact partner's pass exactly", async () => {
    const submitted = await submit([COUNTRY_TABLE], exactToken);
    expect(submitted.status, submitted.text).toBe(202);
    const job = await waitForJob(service, exactToken, submitted.json.jobId, 1_200_000);
    expect(job, JSON.stringify(job)).toMatchObject({ state: "done", kind: "pass" });
    const bundle = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: exactToken })).json;
    expect(bundle.kind).toBe("pass");
    expect(ledgerState(service, job.jobId)).toBe("charged");
  }, 1_800_000);
});

describe("config pass.dp", () => {
  it("is validated at boot, naming the setting", () => {
    const config = configFromSources({ "pass-dp-max-coins": "128" }, {});
    expect(config.pass).toMatchObject({ histogramSlots: 1, dp: { maxCoins: 128, maxScaleBits: 2 } });
    expect(() => configFromSources({ "pass-dp-max-coins": "1" }, {})).toThrow(/pass\.dp\.maxCoins/);
    expect(() => configFromSources({ "pass-histogram-slots": "0", "pass-dp-max-coins": "128" }, {})).toThrow(
      /pass\.dp/,
    );
    expect(configFromSources({ "pass-queries": "2" }, {}).pass?.dp).toBeUndefined();
  });
});
