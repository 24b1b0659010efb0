/**
 * The verifier SDK is browser-safe and works in a browser:
 * 1. a walk of the runtime import graph from src/verifier/index.ts (test/helpers/import-graph.ts; the layer
 *    rules are in test/architecture.test.ts) finds no `node:` or Node built-in imports, no
 *    snarkjs/ffjavascript/circomlibjs/express, no prover/setup/service code, and only allow-listed packages;
 * 2. esbuild bundles the SDK for `platform: "browser"` (it fails on any Node built-in);
 * 3. headless Debian Chromium (playwright-core, /usr/bin/chromium, empty profile, no network but the
 *    local page server on 127.0.0.1) verifies real bundles, rejects tampered and malformed ones with
 *    the same results as Node, and batch-verifies with the browser's crypto.getRandomValues.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type VerifyOptions, verify } from "../src/verifier/index.ts";
import { REPO_ROOT } from "./fixtures/verifier/fixture.ts";
import {
  BUNDLE_REQUESTS,
  type BundleFixture,
  buildBundleFixture,
  OPERATOR_KEY,
  TEST_CIRCUIT_ID,
  withValue,
} from "./helpers/bundles.ts";
import { graphOfTree, runtimeClosure } from "./helpers/import-graph.ts";

const SDK_ENTRY = "src/verifier/index.ts";
const PAGE_DIR = join(REPO_ROOT, "test/fixtures/browser");
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Packages the SDK may use: small, dependency-free, browser-ready. */
const ALLOWED_PACKAGES = [/^@noble\/curves\//, /^@noble\/hashes\//, /^zod$/];
const FORBIDDEN = [/^node:/, /^(snarkjs|ffjavascript|circomlibjs|circom_runtime|express|web-worker)(\/|$)/];

describe("browser safety of zktally/verifier", () => {
  it("the runtime import graph from src/verifier/index.ts has no Node, snarkjs or prover imports", () => {
    const { files, packages } = runtimeClosure(graphOfTree(REPO_ROOT), SDK_ENTRY);
    const builtins = new Set(builtinModules);
    const offending = packages.filter(
      ({ to }) =>
        FORBIDDEN.some((pattern) => pattern.test(to)) ||
        builtins.has(to) ||
        !ALLOWED_PACKAGES.some((pattern) => pattern.test(to)),
    );
    expect(offending).toEqual([]);
    expect(files.filter((file) => /^src\/(prover|setup|service|cli)\//.test(file))).toEqual([]);
    // The walk really covers the bundle path (statement recomputation, manifest, query).
    for (const expected of [
      "src/verifier/verify-bundle.ts",
      "src/verifier/bundle.ts",
      "src/circuits/statement.ts",
      "src/dataset/manifest.ts",
      "src/query/lower.ts",
    ]) {
      expect(files).toContain(expected);
    }
    expect(files).not.toContain("src/dataset/commitment.ts"); // reached only through `import type`
  });

  it("the walker sees what it must: it flags a node: import and a snarkjs import", () => {
    const probe = runtimeClosure(graphOfTree(REPO_ROOT), "src/prover/check.ts");
    const specifiers = probe.packages.map((edge) => edge.to);
    expect(specifiers).toContain("snarkjs");
    expect(specifiers.some((specifier) => specifier.startsWith("node:"))).toBe(true);
  });
});

// ---------------------------------------------------------------- headless Chromium

let fixture: BundleFixture;
let server: Server;
let origin: string;
let userDataDir: string;
let context: BrowserContext;
let page: Page;
let bundleBytes = 0;

async function bundleSdk(): Promise<string> {
  const result = await build({
    entryPoints: [join(PAGE_DIR, "entry.ts")],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error("esbuild produced no output");
  bundleBytes = output.contents.length;
  return output.text;
}

async function serve(files: Record<string, { type: string; body: string }>): Promise<void> {
  server = createServer((request, response) => {
    const file = files[request.url ?? ""];
    response.writeHead(file ? 200 : 404, { "content-type": file?.type ?? "text/plain" });
    response.end(file?.body ?? "not found");
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no server address");
  origin = `http://127.0.0.1:${address.port}`;
}

beforeAll(async () => {
  const [bundledFixture, sdk] = await Promise.all([buildBundleFixture(["count", "membership"]), bundleSdk()]);
  fixture = bundledFixture;
  await serve({
    "/index.html": { type: "text/html", body: readFileSync(join(PAGE_DIR, "index.html"), "utf8") },
    "/sdk.js": { type: "text/javascript", body: sdk },
  });
  userDataDir = mkdtempSync(join(tmpdir(), "zktally-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  // Nothing but the local page server may be reached.
  await context.route("**/*", (route) =>
    route.request().url().startsWith(`${origin}/`) ? route.continue() : route.abort(),
  );
  page = await context.newPage();
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(() => document.title === "zktally verifier ready");
});

afterAll(async () => {
  await context?.close();
  await new Promise((done) => (server ? server.close(done) : done(undefined)));
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await fixture?.release();
});

function nodeOptions(): VerifyOptions {
  return {
    keys: { [TEST_CIRCUIT_ID]: fixture.vkey },
    keysManifest: fixture.keysManifest,
    operatorKey: OPERATOR_KEY,
    allowInsecureKeys: true,
  };
}

/** Runs `zktally.verify` in the page; arguments travel as JSON. */
function verifyInBrowser(bundle: unknown, options: VerifyOptions = nodeOptions()): Promise<unknown> {
  return page.evaluate(
    ([b, o]) =>
      (window as unknown as { zktally: { verify(b: unknown, o: unknown): unknown } }).zktally.verify(b, o),
    [bundle, options] as const,
  );
}

describe("headless Chromium", () => {
  it("runs a browser bundle of the SDK without Node globals", async () => {
    expect(bundleBytes).toBeGreaterThan(10_000);
    expect(bundleBytes).toBeLessThan(2_000_000);
    const environment = await page.evaluate(() =>
      (window as unknown as { zktally: { environment(): unknown } }).zktally.environment(),
    );
    expect(environment).toMatchObject({ hasProcess: false, hasRequire: false });
    expect((environment as { userAgent: string }).userAgent).toMatch(/HeadlessChrome/);
  });

  it("valid bundles verify in the browser exactly as in Node", async () => {
    for (const kind of ["count", "membership"] as const) {
      const bundle = fixture.bundle(kind);
      const inBrowser = await verifyInBrowser(bundle);
      expect(inBrowser).toMatchObject({ valid: true, statement: BUNDLE_REQUESTS[kind].statement });
      expect(inBrowser).toEqual(JSON.parse(JSON.stringify(verify(bundle, nodeOptions()))));
    }
  });

  it("tampered and malformed bundles are rejected in the browser with the same reason as in Node", async () => {
    const count = fixture.bundle("count");
    const tampered = withValue(count, ["answer", "value"], "3");
    const browserRejection = await verifyInBrowser(tampered);
    expect(browserRejection).toMatchObject({ valid: false, check: "public-signals" });
    expect(browserRejection).toEqual(verify(tampered, nodeOptions()));
    const anotherEpoch = withValue(count, ["manifest"], fixture.otherEpoch.manifest);
    expect(await verifyInBrowser(anotherEpoch)).toMatchObject({ valid: false, check: "public-signals" });
    const badSignal = withValue(count, ["publicSignals", 3], "abc");
    expect(await verifyInBrowser(badSignal)).toEqual({
      error: "VerifierInputError",
      field: "publicSignals[3]",
      reason: expect.stringMatching(/canonical decimal/),
    });
    const weakKey = { ...fixture.vkey, vk_delta_2: fixture.vkey.vk_gamma_2 };
    expect(
      await verifyInBrowser(count, { keys: { [TEST_CIRCUIT_ID]: weakKey }, operatorKey: OPERATOR_KEY }),
    ).toMatchObject({ error: "VerifierInputError", field: `options.keys.${TEST_CIRCUIT_ID}.vk_delta_2` });
  });

  it("the SDK in the browser throws InsecureKeysError for development keys without allowInsecureKeys", async () => {
    const { allowInsecureKeys: _, ...withoutAllow } = nodeOptions();
    expect(await verifyInBrowser(fixture.bundle("count"), withoutAllow)).toEqual({
      error: "InsecureKeysError",
      field: "options.keysManifest",
      reason: expect.stringMatching(/INSECURE development setup/),
    });
  });

  it("the verification page shows development keys as REFUSED unless its box is ticked", async () => {
    const verdict = async (bundleText: string, allowInsecure: boolean) => {
      await page.fill("#bundle", bundleText);
      await page.fill("#vkey", JSON.stringify(fixture.vkey));
      await page.fill("#keys-manifest", JSON.stringify(fixture.keysManifest));
      await page.fill("#operator-key", OPERATOR_KEY);
      await page.setChecked("#allow-insecure", allowInsecure);
      await page.click("#verify");
      const result = page.locator("#result");
      return { status: await result.getAttribute("data-status"), text: await result.textContent() };
    };
    const text = JSON.stringify(fixture.bundle("count"), null, 2);
    const refused = await verdict(text, false);
    expect(refused.status).toBe("refused");
    expect(refused.text).toMatch(/^REFUSED: the verification keys of circuit .* INSECURE development setup/);
    const accepted = await verdict(text, true);
    expect(accepted.status).toBe("valid");
    expect(accepted.text).toContain(`VALID: ${BUNDLE_REQUESTS.count.statement}`);
    expect(accepted.text).toMatch(/warning: .*INSECURE/);
    const twice = `{"statement":"dataset wiki-editors epoch 3: 99 records",${text.trimStart().slice(1)}`;
    const malformed = await verdict(twice, true);
    expect(malformed.status).toBe("malformed");
    expect(malformed.text).toMatch(/duplicate key "statement"/);
  });

  it("batch verification in the browser catches the one bad proof", async () => {
    const count = fixture.bundle("count");
    const membership = fixture.bundle("membership");
    const swapped = withValue(membership, ["proof", "pi_a"], membership.proof.pi_c);
    const bad = withValue(swapped, ["proof", "pi_c"], membership.proof.pi_a);
    const results = (await page.evaluate(
      ([bundles, options]) =>
        (
          window as unknown as { zktally: { verifyBundles(b: unknown, o: unknown): unknown } }
        ).zktally.verifyBundles(bundles, options),
      [[count, bad, membership], nodeOptions()] as const,
    )) as { valid: boolean; check?: string }[];
    expect(results.map((result) => result.valid)).toEqual([true, false, true]);
    expect(results[1]?.check).toBe("proof");
  });
});
