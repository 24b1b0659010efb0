/**
 * dp partners get noisy, proven answers over real HTTP (issue 10), on the chunk test shape (S = 16) with a
 * small noisy final step (config `noise`: 512 coins, s <= 2^8): a chunked registration commits to the noise
 * seed in its manifest and pins the clamped chunk and noisy final circuits next to the plain ones (all four
 * listed by /v1/circuits); a dp noisy count and a clamped noisy sum are proven by the job runner with the
 * (epsilon, delta) admission charged, downloaded as zktally-bundle/v3 dp-chain bundles that the SDK verifies
 * (stating epsilon, delta and the mechanism), each noisy answer equal to the reference evaluator's answer plus
 * the TypeScript twin's noise from the sealed seed, `zktally verify` accepts the downloaded file, and the
 * privacy budget is charged once per query.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVerify } from "../src/cli/verify-command.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { parseStrictJson } from "../src/util/strict-json.ts";
import { type DpChainBundle, verifyAny } from "../src/verifier/index.ts";
import {
  CHUNKED_SCHEMA,
  CHUNKED_SCHEMA_JSON,
  chunkedRows,
  chunkedServiceKeys,
  encodedRecords,
  TEST_CHUNKS,
} from "./helpers/chunked-service.ts";
import { twinNoisy } from "./helpers/dp-noise.ts";
import {
  addPartner,
  ledgerState,
  nonce,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const ROWS = chunkedRows(40, 2000);
const RECORDS = encodedRecords(ROWS);
const NOISE = { maxCoins: 512, maxScaleBits: 8 };
const QUERIES = [
  { predicate: [{ field: "bot", op: "eq", value: false }], aggregate: { kind: "count" } },
  {
    predicate: [{ field: "country", op: "in", value: ["DE", "FR"] }],
    aggregate: { kind: "sum", field: "edits", clamp: [0, 20] },
  },
] as const;

let service: TestService;
let keysDir: string;
let partnerToken: string;

beforeAll(async () => {
  keysDir = await chunkedServiceKeys("test-keys-service-dp");
  service = await startTestService({
    config: { keysDir, chunks: TEST_CHUNKS, noise: NOISE, requestTimeoutMs: 600_000 },
  });
  const admin = await addPartner(service, "ops", ["admin"]);
  const registered = await service.api("POST", "/v1/admin/datasets", {
    token: await token(service, admin),
    body: { datasetId: "editors-dp", schema: CHUNKED_SCHEMA_JSON, rows: ROWS },
  });
  expect(registered.status, registered.text).toBe(201);
  const partner = await addPartner(service, "noisy", ["datasets:read", "queries:submit", "audit:read"], {
    mode: "dp",
    datasets: ["editors-dp"],
    fields: ["country", "edits", "bot"],
    aggregates: ["count", "sum"],
    dp: { epsilon: 1, delta: 1e-6 },
    privacyBudget: { epsilon: 10, delta: 1e-4 },
  });
  partnerToken = await token(service, partner);
}, 900_000);

afterAll(async () => {
  await service?.close();
  await terminateCurveWorkers();
});

/** `zktally verify` takes the downloaded dp bundle and says its noisy answer and privacy claim. */
async function verifyFromCommandLine(text: string, operatorKey: string): Promise<void> {
  const file = join(mkdtempSync(join(tmpdir(), "zktally-dp-")), "bundle.json");
  writeFileSync(file, text);
  const written: string[] = [];
  const output = { out: (t: string) => written.push(t), err: (t: string) => written.push(t) };
  const args = [file, "--keys", keysDir, "--operator-key", operatorKey, "--allow-insecure-keys"];
  expect(await runVerify(args, output), written.join("")).toBe(0);
  expect(written.join("")).toMatch(/^VALID/);
  expect(written.join("")).toContain("binomial-dither/v1");
}

describe("dp partners in the service", () => {
  it("a chunked registration commits to the noise seed and pins the clamped and noisy circuits", async () => {
    const { manifest } = (await service.api("GET", "/v1/datasets/editors-dp", { token: partnerToken })).json;
    expect(manifest.noiseCommitment).toMatch(/^[0-9]+$/);
    expect(manifest.circuits).toHaveLength(4);
    expect(manifest.circuits).toContain("chunkfinaldp-c3-w16-n512-j8");
    expect(manifest.circuits.some((id: string) => id.endsWith("-clamp"))).toBe(true);
    const circuits = await service.api("GET", "/v1/circuits", { token: partnerToken });
    const ids = circuits.json.circuits.map((c: { circuitId: string }) => c.circuitId);
    expect(ids).toEqual(expect.arrayContaining(manifest.circuits));
    // The seed itself never leaves the service.
    const secret = await service.server.ctx.datasets.noiseSecret("editors-dp", 1);
    expect(JSON.stringify(manifest)).not.toContain(String(secret.seed));
    expect(service.logs.text()).not.toContain(String(secret.seed));
  });

  it("answers a noisy count and a clamped noisy sum, proven, verified by the SDK, the twin's noise", async () => {
    const circuits = (await service.api("GET", "/v1/circuits", { token: partnerToken })).json.circuits as {
      circuitId: string;
      vkey: unknown;
    }[];
    const keys = Object.fromEntries(circuits.map((c) => [c.circuitId, c.vkey]));
    const keysManifest = JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8"));
    const operatorKey = service.server.ctx.operatorKey;
    for (const [index, query] of QUERIES.entries()) {
      const requestNonce = nonce();
      const body = { datasetId: "editors-dp", query, nonce: requestNonce };
      const submitted = await service.api("POST", "/v1/queries", { token: partnerToken, body });
      expect(submitted.status, submitted.text).toBe(202);
      const jobId = submitted.json.jobId as string;
      const job = await waitForJob(service, partnerToken, jobId, 400_000);
      expect(job.state, JSON.stringify(job)).toBe("done");
      const download = await service.api("GET", `/v1/jobs/${jobId}/bundle`, { token: partnerToken });
      expect(download.status).toBe(200);
      const bundle = parseStrictJson(download.text) as DpChainBundle;
      expect(bundle.format).toBe("zktally-bundle/v3");
      const result = verifyAny(bundle, {
        keys,
        keysManifest,
        operatorKey,
        expectedNonce: requestNonce,
        allowInsecureKeys: true,
      });
      // The SDK's verdict states the mechanism, epsilon and delta (checked against the public params).
      expect(result, JSON.stringify(result)).toMatchObject({
        valid: true,
        kind: "dp-chain",
        chunkCount: 3,
        answer: bundle.answer,
        privacy: { mechanism: "binomial-dither/v1", epsilon: "1", delta: bundle.privacy.delta },
      });
      expect(Number(bundle.privacy.delta)).toBeLessThanOrEqual(1e-6);
      if (result.valid && "computedDelta" in result) {
        expect(result.computedDelta).toBeLessThanOrEqual(1e-6);
        expect(result.statement).toContain(`noisy ${query.aggregate.kind}`);
      }
      expect(bundle.answer.noisy).toBe(
        await twinNoisy(service.server.ctx, "editors-dp", bundle, query, CHUNKED_SCHEMA, RECORDS),
      );
      if (index === 1) expect(bundle.chunkCircuitId).toMatch(/-clamp$/);
      if (index === 0) await verifyFromCommandLine(download.text, operatorKey);
      expect(ledgerState(service, jobId)).toBe("charged");
      // Downloading again or replaying the nonce charges nothing more.
      const replay = await service.api("POST", "/v1/queries", { token: partnerToken, body });
      expect(replay.json).toMatchObject({ jobId, replayed: true });
    }
    const budget = (await service.api("GET", "/v1/budget", { token: partnerToken })).json;
    expect(budget.privacy).toEqual([
      expect.objectContaining({ datasetId: "editors-dp", spentEpsilon: QUERIES.length }),
    ]);
  }, 900_000);
});
