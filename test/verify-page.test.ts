/**
 * The browser verification page (issue 14, point 5), in headless Debian Chromium (playwright-core,
 * /usr/bin/chromium, --no-sandbox):
 * 1. `GET /verify` of a real service (development mode, test circuit) serves the page with the service's
 *    operator key and `GET /v1/circuits` keys filled in and a CSP that allows only the page's own script and
 *    no connection at all;
 * 2. a bundle the service proved for a partner, dropped as a file, is REFUSED (insecure development keys)
 *    until the box is ticked, then VALID with statement, answer, dataset, epoch and key hash shown and the
 *    INSECURE warning visible; the page makes no request while verifying;
 * 3. a tampered bundle is INVALID, a truncated file MALFORMED, and a chain bundle (v2) is VALID with its
 *    chunk count and both key hashes;
 * 4. the static single file (what `npm run build` writes as dist/verify-page.html) works from file:// with
 *    every network request refused, keys and operator key pasted.
 * 5. the same service bundle verifies with `zktally verify --keys <the saved GET /v1/circuits answer>` (what
 *    a partner has from the API, no keys directory).
 * Screenshots of the valid and the tampered verdicts are written to build/verify-page-*.png.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVerify } from "../src/cli/verify-command.ts";
import { buildVerifyPage } from "../src/service/verify-page-build.mjs";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { INSECURE_WARNING } from "../src/verifier/page/verdict.ts";
import { OPERATOR_KEY, withValue } from "./helpers/bundles.ts";
import { buildChainFixture, type ChainFixture } from "./helpers/chain-bundle.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"];

let service: TestService;
let bundle: Record<string, unknown>;
let listing: unknown;
let chain: ChainFixture;
let userDataDir: string;
let context: BrowserContext;
let page: Page;
let csp: string | null;
const requests: string[] = [];

beforeAll(async () => {
  service = await startTestService();
  await addDataset(service, "ds-a", ROWS_A);
  const policy = { datasets: ["ds-a"], fields: ["country"], aggregates: ["count"], minGroupSize: 2 };
  const alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], policy);
  const accessToken = await token(service, alice);
  const submitted = await service.api("POST", "/v1/queries", {
    token: accessToken,
    body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
  });
  expect(submitted.status, submitted.text).toBe(202);
  const job = await waitForJob(service, accessToken, submitted.json.jobId, 300_000);
  expect(job.state, JSON.stringify(job)).toBe("done");
  bundle = (await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, { token: accessToken })).json;
  listing = (await service.api("GET", "/v1/circuits", { token: accessToken })).json;
  chain = await buildChainFixture();
  userDataDir = mkdtempSync(join(tmpdir(), "zktally-page-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    requests.push(url);
    return url.startsWith(`${service.url}/`) || url.startsWith("file:") ? route.continue() : route.abort();
  });
  page = await context.newPage();
  const response = await page.goto(`${service.url}/verify`);
  csp = (await response?.allHeaders())?.["content-security-policy"] ?? null;
  await page.waitForSelector("body[data-ready=true]");
}, 900_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await service?.close();
  await terminateCurveWorkers();
});

interface Shown {
  readonly status: string | null;
  readonly verdict: string;
  readonly warning: string | null;
  readonly facts: Record<string, string>;
}

async function shown(on: Page = page): Promise<Shown> {
  const facts = await on.$$eval("#facts dt", (terms) =>
    Object.fromEntries(
      terms.map((term) => [term.textContent ?? "", term.nextElementSibling?.textContent ?? ""]),
    ),
  );
  const warning = on.locator("#insecure-warning");
  return {
    status: await on.locator("#result").getAttribute("data-status"),
    verdict: (await on.locator("#verdict").textContent()) ?? "",
    warning: (await warning.isVisible()) ? await warning.textContent() : null,
    facts,
  };
}

/** Drops `value` (or raw text) on the page as a bundle file; the page verifies it at once. */
async function dropFile(value: unknown, name = "bundle.json", on: Page = page): Promise<Shown> {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  await on.setInputFiles("#bundle-file", { name, mimeType: "application/json", buffer: Buffer.from(text) });
  await on.waitForFunction((file) => document.getElementById("bundle-name")?.textContent === file, name);
  return shown(on);
}

describe("GET /verify (the service's page)", () => {
  it("is served with the service's trust anchors and a CSP that allows no connection", async () => {
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("connect-src 'none'");
    expect(await page.inputValue("#operator-key")).toBe(service.server.ctx.operatorKey);
    expect(JSON.parse(await page.inputValue("#keys"))).toEqual(listing);
  });

  it("a dropped bundle from the service: REFUSED with insecure keys, VALID once allowed, no request made", async () => {
    const before = requests.length;
    const refused = await dropFile(bundle);
    expect(refused.status).toBe("refused");
    expect(refused.verdict).toMatch(/^REFUSED: .*INSECURE development setup/);
    expect(refused.warning).toContain(INSECURE_WARNING);

    await page.setChecked("#allow-insecure", true);
    const valid = await dropFile(bundle, "answer.json");
    expect(valid.status).toBe("valid");
    expect(valid.verdict).toBe("VALID");
    expect(valid.facts).toMatchObject({
      Statement: bundle.statement,
      Answer: "4",
      Dataset: "ds-a",
      Epoch: "1",
      "Key hash": (listing as { circuits: { vkeyHash: string }[] }).circuits[0]?.vkeyHash,
    });
    expect(valid.warning).toContain("INSECURE development setup");
    await page.screenshot({ path: join(buildRoot(), "verify-page-valid.png"), fullPage: true });
    expect(requests.slice(before)).toEqual([]);
  });

  it("a tampered bundle is INVALID, a truncated file MALFORMED", async () => {
    const tampered = await dropFile(withValue(bundle, ["answer", "value"], "3"), "tampered.json");
    expect(tampered.status).toBe("invalid");
    expect(tampered.verdict).toMatch(/^INVALID: public signal 1 \(answer\) is 4, but .* require 3/);
    expect(tampered.facts["Failed check"]).toBe("public-signals");
    // The bundle's own sentence ("4 records") next to its edited answer (3): both marked as not proven,
    // and the disagreement named.
    expect(tampered.facts).toMatchObject({
      "Statement (claimed, NOT proven)": bundle.statement,
      "Answer (claimed, NOT proven)": "3",
    });
    expect(tampered.facts["Statement mismatch"]).toContain("disagrees with the bundle's query and answer");
    expect(tampered.facts["Statement mismatch"]).toContain("3 records");
    await page.screenshot({ path: join(buildRoot(), "verify-page-tampered.png"), fullPage: true });
    const truncated = await dropFile(JSON.stringify(bundle).slice(0, 200), "truncated.json");
    expect(truncated.status).toBe("malformed");
    expect(truncated.verdict).toMatch(/^MALFORMED: .*not strict JSON/);
  });

  it("a chain bundle (v2) verifies with its chunk count and both key hashes", async () => {
    await page.fill("#keys", JSON.stringify(chain.listing));
    await page.fill("#operator-key", OPERATOR_KEY);
    const valid = await dropFile(chain.bundle, "chain.json");
    expect(valid.status, valid.verdict).toBe("valid");
    expect(valid.facts).toMatchObject({
      Statement: chain.bundle.statement,
      Dataset: "chain-page",
      Chunks: "2 chunk proofs and a final proof",
    });
    expect(valid.facts["Chunk key hash"]).toMatch(/^[0-9a-f]{64}$/);
    expect(valid.facts["Final key hash"]).toMatch(/^[0-9a-f]{64}$/);
    const reordered = { ...chain.bundle, chunks: [...chain.bundle.chunks].reverse() };
    expect((await dropFile(reordered, "reordered.json")).status).toBe("invalid");
  });
});

describe("the static single-file page", () => {
  it("verifies from file:// with keys and operator key pasted, every request refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zktally-static-page-"));
    try {
      const file = join(dir, "verify-page.html");
      writeFileSync(file, await buildVerifyPage());
      const staticPage = await context.newPage();
      await staticPage.route("**/*", (route) =>
        route.request().url().startsWith("file:") ? route.continue() : route.abort(),
      );
      await staticPage.goto(`file://${file}`);
      await staticPage.waitForSelector("body[data-ready=true]");
      expect(await staticPage.inputValue("#keys")).toBe("");
      await staticPage.fill("#keys", JSON.stringify(listing));
      await staticPage.fill("#operator-key", service.server.ctx.operatorKey);
      await staticPage.setChecked("#allow-insecure", true);
      await staticPage.fill("#bundle", JSON.stringify(bundle));
      await staticPage.click("#verify");
      const valid = await shown(staticPage);
      expect(valid.status).toBe("valid");
      expect(valid.facts.Statement).toBe(bundle.statement);
      await staticPage.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("zktally verify with what the API gives", () => {
  it("verifies the service's bundle with --keys FILE holding the GET /v1/circuits answer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zktally-api-keys-"));
    try {
      writeFileSync(join(dir, "circuits.json"), JSON.stringify(listing));
      writeFileSync(join(dir, "bundle.json"), JSON.stringify(bundle));
      const chunks: string[] = [];
      const write = (text: string) => {
        chunks.push(text);
      };
      const args = [join(dir, "bundle.json"), "--keys", join(dir, "circuits.json")];
      const trust = ["--operator-key", service.server.ctx.operatorKey];
      expect(await runVerify([...args, ...trust, "--allow-insecure-keys"], { out: write, err: write })).toBe(
        0,
      );
      expect(chunks.join("").startsWith(`VALID  ${bundle.statement}\n`)).toBe(true);
      expect(await runVerify([...args, ...trust], { out: write, err: write })).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
