/**
 * The service answers pass queries (POST /v1/passes: histograms, several queries in one proof, DNF
 * predicates, avg) over real HTTP, on the pass test shape (Q = 3, H = 2, G = 16, S = 16): a 30-record chunked
 * dataset registered through the admin API announces the pass circuits (development keys the service builds
 * itself), `/v1/circuits` lists them, and a one-histogram pass and a batch of 3 queries are proven on the
 * local prover pool as pass bundles that the SDK's verifyPass accepts with the keys of /v1/circuits and the
 * reference evaluator's answers; cells below k come back hidden ("fewer than k"). A batch whose second query
 * the policy does not allow is refused as a whole with a precise error, budgets count every query of a batch
 * (atomically: a batch larger than what is left is refused whole, and of 20 concurrent batches of 3 against
 * a budget of 10 exactly 3 are admitted), the audit log has one entry per query,
 * `zktally verify` / `inspect` print the histogram as a table, and `zktally query` given a JSON array of
 * queries submits them as one pass and verifies the pass bundle it downloads.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/run.ts";
import { runInspect, runVerify } from "../src/cli/verify-command.ts";
import type { PassQuery } from "../src/query/pass.ts";
import { evaluatePass } from "../src/query/pass-evaluate.ts";
import { ensureChainCircuits } from "../src/service/chunk-circuits.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { ensureMainFile, ensurePassMainFiles } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { parseStrictJson } from "../src/util/strict-json.ts";
import { verifyPass } from "../src/verifier/index.ts";
import { pageVerdict } from "../src/verifier/page/verdict.ts";
import { passAnswerInWords, passAnswerOf } from "../src/verifier/pass-bundle.ts";
import {
  CHUNKED_SCHEMA,
  CHUNKED_SCHEMA_JSON,
  chunkedRows,
  encodedRecords,
  TEST_CHUNKS,
} from "./helpers/chunked-service.ts";
import { PASS_TEST_SHAPE, TEST_SHAPE } from "./helpers/circuits.ts";
import { captureCliOutput } from "./helpers/cli-output.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addPartner,
  ledgerState,
  nonce,
  startTestService,
  type TestService,
  testConfig,
  token,
  waitForJob,
} from "./helpers/service.ts";

const ROWS = chunkedRows(30);
const RECORDS = encodedRecords(ROWS);
const K = 3;
const DATASET = "editors-pass";
const SCOPES = "datasets:read queries:submit audit:read";
const PASS_CONFIG = { queries: 3, histogramSlots: 2, cells: 16 };
const captured = captureCliOutput();

/** Each country has 1 bot and 4 other editors: the bot cells (1 < k) are hidden, the others shown. */
const HISTOGRAM: PassQuery = { predicate: [], aggregate: { kind: "histogram", by: ["country", "bot"] } };
const BATCH: PassQuery[] = [
  {
    predicate: {
      anyOf: [[{ field: "country", op: "eq", value: "FR" }], [{ field: "bot", op: "eq", value: true }]],
    },
    aggregate: { kind: "avg", field: "edits" },
  },
  {
    predicate: [{ field: "edits", op: "gte", value: 100 }],
    aggregate: { kind: "histogram", by: ["country"] },
  },
  { predicate: [{ field: "edits", op: "lt", value: 250 }], aggregate: { kind: "threshold", k: 10 } },
];

let service: TestService;
let keysDir: string;
let partnerToken: string;
let bundleText: string;

beforeAll(async () => {
  // The served test circuit and the pass circuits on one ptau; the service builds the chain circuits on it.
  keysDir = join(buildRoot(), "test-keys-service-pass");
  const mains = [await ensureMainFile(TEST_SHAPE), ...(await ensurePassMainFiles(PASS_TEST_SHAPE))];
  await buildDevKeys(mains, { keysDir, replace: true });
  service = await startTestService({
    config: {
      keysDir,
      chunks: TEST_CHUNKS,
      pass: PASS_CONFIG,
      requestTimeoutMs: 600_000,
      // waitForJob polls every 50 ms: a slow proof must not hit the per-client limit.
      rateLimit: { windowMs: 60_000, max: 100_000 },
    },
  });
  const admin = await token(service, await addPartner(service, "ops", ["admin"]));
  const registered = await service.api("POST", "/v1/admin/datasets", {
    token: admin,
    body: { datasetId: DATASET, schema: CHUNKED_SCHEMA_JSON, rows: ROWS, chunked: true },
  });
  expect(registered.status, registered.text).toBe(201);
  const partner = await addPartner(service, "wmde", SCOPES.split(" "), {
    datasets: [DATASET],
    fields: ["country", "edits", "bot"],
    aggregates: ["count", "threshold", "avg", "histogram"],
    minGroupSize: K,
    budget: { queries: 5, periodSeconds: 86_400 },
    publicAnswers: true,
  });
  partnerToken = await token(service, partner, SCOPES);
}, 1_500_000);

afterAll(async () => {
  await service?.close();
  await terminateCurveWorkers();
});

async function submitPass(queries: readonly PassQuery[], requestNonce = nonce()) {
  return service.api("POST", "/v1/passes", {
    token: partnerToken,
    body: { datasetId: DATASET, queries, nonce: requestNonce },
  });
}

async function budgetUsed(): Promise<number> {
  return (await service.api("GET", "/v1/budget", { token: partnerToken })).json.used;
}

/** Proves `queries` through the API and checks the bundle with the SDK against the reference evaluator. */
async function provenPass(queries: readonly PassQuery[]) {
  const requestNonce = nonce();
  const submitted = await submitPass(queries, requestNonce);
  expect(submitted.status, submitted.text).toBe(202);
  const job = await waitForJob(service, partnerToken, submitted.json.jobId, 300_000);
  expect(job, JSON.stringify(job)).toMatchObject({ state: "done", kind: "pass" });
  expect(job.progress.chunks).toEqual({ done: 3, total: 3 });
  const text = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: partnerToken })).text;
  const bundle = parseStrictJson(text) as { kind: string; queries: PassQuery[] };
  const listing = (await service.api("GET", "/v1/circuits", { token: partnerToken })).json.circuits as {
    circuitId: string;
    vkey: unknown;
  }[];
  const result = verifyPass(bundle, {
    keys: Object.fromEntries(listing.map((c) => [c.circuitId, c.vkey])),
    keysManifest: JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8")),
    operatorKey: service.server.ctx.operatorKey,
    expectedNonce: requestNonce,
    allowInsecureKeys: true,
  });
  if (!result.valid) throw new Error(`${result.check}: ${result.reason}`);
  const reference = evaluatePass(bundle.queries, CHUNKED_SCHEMA, RECORDS, K);
  expect(result.answers).toEqual(
    bundle.queries.map((query, q) =>
      passAnswerOf(query, reference[q] as (typeof reference)[number], CHUNKED_SCHEMA),
    ),
  );
  expect(ledgerState(service, job.jobId)).toBe("charged");
  return { result, text, requestId: submitted.json.requestId as string, jobId: job.jobId as string };
}

describe("pass queries in the service", () => {
  it("registers the dataset with the pass circuits, listed by /v1/circuits", async () => {
    const { manifest } = (await service.api("GET", `/v1/datasets/${DATASET}`, { token: partnerToken })).json;
    expect(manifest).toMatchObject({ version: 2, recordCount: 30, chunkCount: 2 });
    const pass = manifest.circuits.filter((id: string) => /^pass(final)?-q3-h2-g16-/.test(id));
    expect(pass).toHaveLength(2);
    const listed = (await service.api("GET", "/v1/circuits", { token: partnerToken })).json.circuits;
    expect(listed.map((c: { circuitId: string }) => c.circuitId)).toEqual(expect.arrayContaining(pass));
    const openapi = (await service.api("GET", "/openapi.json")).json;
    expect(openapi.paths["/v1/passes"].post.requestBody.content["application/json"].schema).toBeDefined();
  });

  it("answers a histogram with the cells below k hidden, proven and charged one query", async () => {
    const before = await budgetUsed();
    const { result, text } = await provenPass([HISTOGRAM]);
    bundleText = text;
    expect(await budgetUsed()).toBe(before + 1);
    const [answer] = result.answers;
    if (answer?.kind !== "histogram") throw new Error("expected a histogram");
    expect(answer.suppressed).toBe(false);
    const exact = evaluatePass([HISTOGRAM], CHUNKED_SCHEMA, RECORDS, 0)[0];
    if (exact?.kind !== "histogram") throw new Error("expected a histogram");
    answer.cells.forEach((cell, g) => {
      const count = Number(exact.cells[g]?.value);
      expect("hidden" in cell, `cell ${cell.cell.join("/")}`).toBe(count < K || RECORDS.length - count < K);
    });
    expect(answer.cells.filter((cell) => "hidden" in cell)).toHaveLength(6);
    expect(result.statements[0]).toContain(`FR/true fewer than ${K}`);
  }, 600_000);

  it("answers a batch of 3 queries in one proof, charged and audited once per query", async () => {
    const before = await budgetUsed();
    const { result, requestId, jobId } = await provenPass(BATCH);
    expect(result.answers.map((answer) => answer.kind)).toEqual(["avg", "histogram", "threshold"]);
    expect(await budgetUsed()).toBe(before + 3);
    const receipts = await service.api("GET", `/v1/receipts/${requestId}`, { token: partnerToken });
    const entries = receipts.json.receipts.map(
      (r: { entry: { action: string; details: Record<string, unknown> } }) => r.entry,
    );
    const submitted = entries.filter((e: { action: string }) => e.action === "query.submit");
    const answered = entries.filter((e: { action: string }) => e.action === "query.answer");
    expect(submitted.map((e: { details: { query: number } }) => e.details.query)).toEqual([0, 1, 2]);
    expect(answered.map((e: { details: { query: number } }) => e.details.query)).toEqual([0, 1, 2]);
    expect(new Set(submitted.map((e: { details: { queryHash: string } }) => e.details.queryHash)).size).toBe(
      3,
    );
    type Published = {
      entry: { action: string; details?: { jobId?: string } };
      view?: Record<string, string>;
    };
    const page = (await service.api("GET", "/v1/transparency/entries")).json.entries as Published[];
    const statements = page.flatMap((e) => e.view?.statement ?? []);
    // The policy publishes answers: each query.answer entry shows its own query's answer in words.
    const shown = page.filter((e) => e.entry.action === "query.answer" && e.entry.details?.jobId === jobId);
    expect(shown.map((e) => e.view?.answer)).toEqual(result.answers.map((a) => passAnswerInWords(a, K)));
    expect(
      statements.filter((s: string) => /^average of edits where \(.+\) OR \(.+\)$/.test(s)),
    ).toHaveLength(1);
  }, 600_000);

  it("refuses a batch whose second query the policy does not allow, as a whole", async () => {
    const before = await budgetUsed();
    const jobsBefore = (await service.api("GET", "/v1/jobs", { token: partnerToken })).json.jobs.length;
    const refused = await submitPass([
      { predicate: [], aggregate: { kind: "count" } },
      { predicate: [], aggregate: { kind: "sum", field: "edits" } },
    ]);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({
      error: "policy_denied",
      message: "queries[1]: aggregate sum is not allowed by your policy",
      path: "queries[1].aggregate.kind",
    });
    const field = await submitPass([
      HISTOGRAM,
      { predicate: [{ field: "level", op: "lt", value: 5 }], aggregate: { kind: "count" } },
    ]);
    expect(field.status).toBe(403);
    expect(field.json.message).toBe("queries[1]: field(s) level not allowed by your policy");
    const tooBig = await submitPass([
      HISTOGRAM,
      { predicate: [], aggregate: { kind: "histogram", by: ["country"] } },
      { predicate: [], aggregate: { kind: "histogram", by: ["bot"] } },
    ]);
    expect(tooBig.status).toBe(400);
    expect(tooBig.json).toMatchObject({ error: "query_too_large", path: "queries[2].aggregate" });
    expect(await budgetUsed()).toBe(before);
    expect((await service.api("GET", "/v1/jobs", { token: partnerToken })).json.jobs).toHaveLength(
      jobsBefore,
    );
  });

  it("refuses a batch larger than the budget left, charging nothing", async () => {
    expect(await budgetUsed()).toBe(4);
    const refused = await submitPass([HISTOGRAM, HISTOGRAM]);
    expect(refused.status).toBe(429);
    expect(refused.json.error).toBe("budget_exhausted");
    expect(refused.json.message).toMatch(/has 1 left; this request asks 2 queries/);
    expect(await budgetUsed()).toBe(4);
  });

  it("20 concurrent batches of 3 against a budget of 10: exactly 3 admitted, none in part", async () => {
    // A second service on the same data keys (already pinned: no build) that only admits (no prover).
    const admitting = await startTestService({
      config: {
        keysDir,
        chunks: TEST_CHUNKS,
        pass: PASS_CONFIG,
        jobs: { concurrency: 0, maxQueuedPerPartner: 100 },
      },
    });
    try {
      const admin = await token(admitting, await addPartner(admitting, "ops", ["admin"]));
      const registered = await admitting.api("POST", "/v1/admin/datasets", {
        token: admin,
        body: { datasetId: DATASET, schema: CHUNKED_SCHEMA_JSON, rows: ROWS, chunked: true },
      });
      expect(registered.status, registered.text).toBe(201);
      const racer = await addPartner(admitting, "racer", ["queries:submit"], {
        datasets: [DATASET],
        fields: ["country", "edits", "bot"],
        aggregates: ["count", "threshold", "avg", "histogram"],
        budget: { queries: 10, periodSeconds: 86_400 },
      });
      const racerToken = await token(admitting, racer, "queries:submit");
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          admitting.api("POST", "/v1/passes", {
            token: racerToken,
            body: { datasetId: DATASET, queries: BATCH, nonce: nonce() },
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses).toEqual([...Array(3).fill(202), ...Array(17).fill(429)]);
      const budget = (await admitting.api("GET", "/v1/budget", { token: racerToken })).json;
      expect(budget).toMatchObject({ used: 9, remaining: 1 });
    } finally {
      await admitting.close();
    }
  });

  it("production mode without pinned pass keys refuses registration (circuit_keys_missing)", async () => {
    const config = {
      ...testConfig(service.dataDir, { keysDir: TEST_KEYS_DIR, pass: PASS_CONFIG }),
      mode: "production" as const,
    };
    const layout = { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 } as const;
    const refused = ensureChainCircuits(config, CHUNKED_SCHEMA, layout, TEST_SHAPE);
    await expect(refused).rejects.toMatchObject({ code: "circuit_keys_missing" });
    await expect(refused).rejects.toThrow(/pass-q3-h2-g16-s16-[^ ]* and passfinal-q3-h2-g16-c3-w16-f5/);
  });

  it("zktally verify and inspect print the histogram as a table with fewer than k", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zktally-pass-"));
    const file = join(dir, "bundle.json");
    const listing = join(dir, "circuits.json");
    writeFileSync(file, bundleText);
    writeFileSync(listing, (await service.api("GET", "/v1/circuits", { token: partnerToken })).text);
    const out: string[] = [];
    const output = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    const operatorKey = service.server.ctx.operatorKey;
    const args = [file, "--keys", listing, "--operator-key", operatorKey, "--allow-insecure-keys"];
    expect(await runVerify(args, output), out.join("")).toBe(0);
    const text = out.join("");
    expect(text).toMatch(/^VALID {2}\[0\] count of records per country × bot over all records:\n/);
    expect(text).toMatch(/ {7}country +bot +count\n/);
    expect(text).toMatch(/ {7}FR +true +fewer than 3\n/);
    out.length = 0;
    expect(await runInspect([file], output)).toBe(0);
    // The browser verification page's verdict (computed without the DOM) lists the statement per query.
    const page = pageVerdict({
      bundle: bundleText,
      keys: await readFile(listing, "utf8"),
      operatorKey,
      nonce: "",
      allowInsecureKeys: true,
    });
    expect(page.status, page.headline).toBe("valid");
    expect(page.facts).toContainEqual(["Query 1", expect.stringContaining(`FR/true fewer than ${K}`)]);
    expect(out.join("")).toMatch(/^NOT VERIFIED[\s\S]* {7}DE +false +4\n[\s\S]*final {6}passfinal-q3-h2-g16/);
  });

  it("zktally query submits a JSON array of queries as one pass and verifies the pass bundle", async () => {
    const partner = await addPartner(service, "cli-pass", ["datasets:read", "queries:submit"], {
      datasets: [DATASET],
      fields: ["country", "bot"],
      aggregates: ["histogram"],
      minGroupSize: K,
    });
    const dir = mkdtempSync(join(tmpdir(), "zktally-pass-query-"));
    const out = join(dir, "pass.bundle.json");
    captured.clear();
    const args = ["query", "--url", service.url, "--client-id", partner.clientId, "--client-secret"];
    const code = await runCli([
      ...args,
      partner.clientSecret,
      "--dataset",
      DATASET,
      "--query",
      JSON.stringify([HISTOGRAM]),
      "--operator-key",
      service.server.ctx.operatorKey,
      "--allow-insecure-keys",
      "--poll-ms",
      "100",
      "--out",
      out,
    ]);
    expect(code, captured.text()).toBe(0);
    expect(captured.text()).toMatch(/VALID {2}\[0\] count of records per country × bot over all records:\n/);
    expect(captured.text()).toMatch(/ {7}FR +true +fewer than 3\n/);
    const bundle = parseStrictJson(await readFile(out, "utf8")) as { kind: string };
    expect(bundle.kind).toBe("pass");
  }, 600_000);
});
