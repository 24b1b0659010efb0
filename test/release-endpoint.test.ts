/**
 * The admin release endpoint over real HTTP (issue 10 point 5; docs/privacy.md "Releases"): a service with
 * config `release` (the release tests' circuits: S = 16, H = 2 wiki tables, G = 8 cells, 128 coins) announces
 * the release PassStep and PassFinalNoisy in a chunked manifest; POST /v1/admin/datasets/{id}/releases admits
 * a release (one release budget charge per tier, one audit entry per tier), the release runner proves it,
 * and the downloaded release.json and release.tsv pass the SDK's verifyRelease. Refusals: a partner token
 * (403), a malformed body (400 naming the field), a release the budget cannot pay (429 with every tier's
 * remaining budget, nothing charged), a used nonce with another request (409). The same request with the same
 * nonce returns the same release, charged once; concurrent releases cannot overspend.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEntries } from "../src/audit/store.ts";
import { releaseCircuitIds } from "../src/release/release.ts";
import { ConfigError, configFromSources } from "../src/service/config.ts";
import { statement } from "../src/service/db.ts";
import { loadPinnedVkey, readKeysManifest } from "../src/setup/keys-manifest.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { verifyRelease } from "../src/verifier/release.ts";
import { RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE } from "./helpers/circuits.ts";
import {
  RELEASE_ROWS,
  RELEASE_SCHEMA_JSON,
  releaseServiceConfig,
  releaseServiceKeys,
} from "./helpers/release-service.ts";
import { addPartner, nonce, startTestService, type TestService, token } from "./helpers/service.ts";

const ROWS = RELEASE_ROWS;
const RISK = { tiers: { low: 4, high: 1.1 }, delta: 1e-6, default: "low", countries: { IN: "high" } };
/** Room for one release (low: 4 of 5): a second one is refused. */
const BUDGET = { epsilon: 5, delta: 1e-5 };
const FIELDS = { wiki: "wiki", country: "country", activity: "activity" };

let service: TestService;
let keysDir: string;
let adminToken: string;
let partnerToken: string;

beforeAll(async () => {
  keysDir = await releaseServiceKeys("test-keys-release-service");
  service = await startTestService({ config: releaseServiceConfig(keysDir, BUDGET) });
  const admin = await addPartner(service, "ops", ["admin"]);
  adminToken = await token(service, admin);
  const partner = await addPartner(service, "reader", ["datasets:read", "queries:submit"], {
    datasets: ["geo"],
  });
  partnerToken = await token(service, partner);
  const registered = await service.api("POST", "/v1/admin/datasets", {
    token: adminToken,
    body: { datasetId: "geo", schema: RELEASE_SCHEMA_JSON, rows: ROWS, chunked: true },
  });
  expect(registered.status, registered.text).toBe(201);
}, 1_800_000);

afterAll(async () => {
  await service?.close();
  await terminateCurveWorkers();
});

const post = (body: unknown, bearer = adminToken) =>
  service.api("POST", "/v1/admin/datasets/geo/releases", { token: bearer, body });

/** The release charges of the ledger (country, state), in order. */
function ledger(): { country: string; state: string }[] {
  return statement(
    service.server.ctx.db,
    "SELECT country, state FROM release_charges ORDER BY rowid",
  ).all() as { country: string; state: string }[];
}

/** The audit entries of an action and decision. */
function audited(action: string, decision: string): { details: Record<string, unknown> }[] {
  return readEntries(service.server.ctx.db)
    .map((stored) => JSON.parse(stored.entry))
    .filter((entry) => entry.action === action && entry.decision === decision);
}

async function waitForRelease(statusUrl: string) {
  for (let i = 0; i < 6000; i++) {
    const status = await service.api("GET", statusUrl, { token: adminToken });
    if (status.json.state === "done" || status.json.state === "failed") return status.json;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("release did not finish");
}

describe("the release endpoint", () => {
  it("announces the release circuits in the chunked manifest", async () => {
    const { manifest } = (await service.api("GET", "/v1/datasets/geo", { token: partnerToken })).json;
    const ids = releaseCircuitIds(RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE.pass.chunk.layout, FIELDS, 2, {
      maxCoins: RELEASE_TEST_SHAPE.maxCoins,
      maxScaleBits: RELEASE_TEST_SHAPE.maxScaleBits,
    });
    expect(manifest.circuits).toEqual(expect.arrayContaining([ids.stepId, ids.finalId]));
  });

  it("refuses a partner token (403) and a malformed body (400 naming the field)", async () => {
    const body = { risk: RISK, threshold: 3, nonce: nonce() };
    expect((await post(body, partnerToken)).status).toBe(403);
    const cases: [unknown, string][] = [
      [{ ...body, threshold: "3" }, "threshold"],
      [{ risk: RISK, threshold: 3 }, "nonce"],
      [{ ...body, nonce: "007" }, "nonce"],
      [{ ...body, risk: { ...RISK, countries: { XX: "high" } } }, "risk"],
      [{ ...body, risk: { ...RISK, tiers: { low: 0.001, high: 0.001 } } }, "risk.tiers"],
      [{ ...body, risk: "nowhere" }, "risk"],
      [{ ...body, extra: 1 }, "body"],
    ];
    for (const [bad, field] of cases) {
      const response = await post(bad);
      expect(response.status, response.text).toBe(400);
      expect(response.json.error).toBe("invalid_release");
      if (field !== "body") expect(response.json.path, response.text).toBe(field);
    }
    expect(ledger()).toEqual([]);
  });

  it("proves a release the SDK verifies; a repeat is the same release, charged once", async () => {
    const body = { risk: RISK, threshold: 3, nonce: nonce() };
    const submitted = await post(body);
    expect(submitted.status, submitted.text).toBe(202);
    expect(ledger().map((row) => row.state)).toEqual(["reserved", "reserved", "reserved", "reserved"]);
    const done = await waitForRelease(submitted.json.statusUrl);
    expect(done.state, JSON.stringify(done)).toBe("done");
    expect(done.progress).toMatchObject({ passesDone: 1, passesTotal: 1, percent: 100 });
    const document = await service.api("GET", done.documentUrl, { token: adminToken });
    const tsv = await service.api("GET", done.tsvUrl, { token: adminToken });
    expect(tsv.headers.get("content-type")).toContain("text/tab-separated-values");
    const manifest = await readKeysManifest(keysDir);
    const circuits = JSON.parse(document.text).bundles[0].manifest.circuits as string[];
    const keys = Object.fromEntries(
      await Promise.all(circuits.map(async (id) => [id, await loadPinnedVkey(keysDir, id)] as const)),
    );
    const options = {
      keys,
      keysManifest: manifest as NonNullable<typeof manifest>,
      operatorKey: service.server.ctx.operatorKey,
      allowInsecureKeys: true,
    };
    const verified = verifyRelease(JSON.parse(document.text), tsv.text, options);
    expect(verified.valid, JSON.stringify(verified)).toBe(true);
    expect(ledger().map((row) => row.state)).toEqual(["charged", "charged", "charged", "charged"]);
    const answered = audited("admin.release.answer", "accepted");
    expect(answered.map((entry) => entry.details.documentHash)).toEqual([done.documentHash]);

    const again = await post(body);
    expect(again.status).toBe(202);
    expect(again.json).toMatchObject({ releaseId: submitted.json.releaseId, replayed: true });
    expect(ledger()).toHaveLength(4);
    const repeated = await service.api("GET", again.json.documentUrl, { token: adminToken });
    expect(repeated.text).toBe(document.text);

    // One signed audit entry per tier charge (low: DE, FR, US; high: IN), with the spend after it.
    const charged = audited("admin.release", "accepted").filter((entry) => entry.details.tier !== undefined);
    expect(charged.map((entry) => [entry.details.tier, entry.details.countries])).toEqual([
      ["low", "DE FR US"],
      ["high", "IN"],
    ]);
    expect(charged.map((entry) => entry.details.epsilonMicros)).toEqual([4_000_000, 1_100_000]);
    const verifiedLog = await service.api("GET", "/v1/admin/audit/verify", { token: adminToken });
    expect(verifiedLog.json, verifiedLog.text).toMatchObject({ ok: true });
    const conflicting = await post({ ...body, threshold: 4 });
    expect(conflicting.status).toBe(409);
    expect(conflicting.json.error).toBe("nonce_reused");
  });

  it("refuses a release the budget cannot pay, naming every tier's remaining budget, charging nothing", async () => {
    const before = ledger();
    const refused = await post({ risk: RISK, threshold: 3, nonce: nonce() });
    expect(refused.status, refused.text).toBe(429);
    expect(refused.json.error).toBe("release_budget_exhausted");
    const tiers = refused.json.releaseBudget.tiers as { tier: string; remainingEpsilon: number }[];
    expect(tiers.map((tier) => [tier.tier, tier.remainingEpsilon])).toEqual([
      ["low", 1],
      ["high", 3.9],
    ]);
    expect(ledger()).toEqual(before);
    expect(audited("admin.release", "refused").length).toBeGreaterThan(0);
  });
});

describe("concurrent releases", () => {
  it("cannot overspend: of 6 concurrent releases on a fresh epoch the budget pays exactly one", async () => {
    const registered = await service.api("POST", "/v1/admin/datasets", {
      token: adminToken,
      body: { datasetId: "geo2", schema: RELEASE_SCHEMA_JSON, rows: ROWS.slice(0, 20), chunked: true },
    });
    expect(registered.status, registered.text).toBe(201);
    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        service.api("POST", "/v1/admin/datasets/geo2/releases", {
          token: adminToken,
          body: { risk: RISK, threshold: 3, nonce: nonce() },
        }),
      ),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([202, 429, 429, 429, 429, 429]);
    const accepted = responses.find((r) => r.status === 202);
    const done = await waitForRelease(accepted?.json.statusUrl);
    expect(done.state).toBe("done");
    const charged = statement(
      service.server.ctx.db,
      "SELECT COUNT(*) AS n FROM release_charges WHERE dataset_id = 'geo2' AND state = 'charged'",
    ).get() as { n: number };
    expect(charged.n).toBe(4);
  });
});

describe("config release", () => {
  it("is validated at boot, naming the setting", () => {
    expect(() => configFromSources({ "release-tables": "2" }, {})).toThrow(/release\.budget/);
    expect(() =>
      configFromSources({ "release-budget-epsilon": "lots", "release-budget-delta": "1e-8" }, {}),
    ).toThrow(ConfigError);
    expect(() =>
      configFromSources({ "release-budget-epsilon": "1", "release-budget-delta": "2" }, {}),
    ).toThrow(/release\.budget\.delta/);
    const config = configFromSources(
      {},
      { ZKTALLY_RELEASE_BUDGET_EPSILON: "2.2", ZKTALLY_RELEASE_BUDGET_DELTA: "1e-8" },
    );
    expect(config.release).toMatchObject({ budget: { epsilon: 2.2, delta: 1e-8 }, tablesPerPass: 1 });
    expect(configFromSources({}, {}).release).toBeUndefined();
  });
});
