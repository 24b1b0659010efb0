/**
 * zktally's packages install and run as a user gets them (issue 14, point 1):
 * 1. `npm run build` (scripts/build.mjs) compiles dist/ and packages/verifier/dist; both packages are packed
 *    with `npm pack` and installed into scratch projects with `npm ci --offline` (test/helpers/packages.ts);
 * 2. `@zktally/verifier` brings only @noble/curves, @noble/hashes and zod; plain `node` (no loader) verifies
 *    a real bundle with keys from a keys manifest and with keys from a `GET /v1/circuits` answer, rejects a
 *    tampered one; its browser bundle loads too; its `.d.ts` type-check a partner's TypeScript;
 * 3. the operator package `zktally` ships compiled JavaScript only (no .ts sources, no tsx): `import` of
 *    `zktally/verifier` works with plain node, and its `zktally` bin verifies several bundles per call with
 *    distinct exit codes, `--keys` from the API, `--version` and `--help`, without loading any operator
 *    module (a module-resolution hook records what the process loads). Startup time is measured by
 *    `npm run bench:cli`, not here.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../src/setup/paths.ts";
import {
  BUNDLE_REQUESTS,
  type BundleFixture,
  buildBundleFixture,
  OPERATOR_KEY,
  TEST_CIRCUIT_ID,
  withValue,
} from "./helpers/bundles.ts";
import { installTarball, packPackage } from "./helpers/packages.ts";

let fixture: BundleFixture;
let dir: string;
let partner: string;
let operator: string;
const file = (name: string) => join(dir, name);

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node ...args` in `cwd` with a clean environment (no loader flags inherited from vitest). */
function node(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 70;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function writeJson(name: string, value: unknown): void {
  writeFileSync(file(name), `${JSON.stringify(value, null, 2)}\n`);
}

beforeAll(async () => {
  const build = await node(REPO_ROOT, ["scripts/build.mjs"]);
  expect(build.code, build.stderr).toBe(0);
  fixture = await buildBundleFixture(["count"]);
  dir = mkdtempSync(join(tmpdir(), "zktally-packages-"));
  mkdirSync(file("keys"));
  writeJson("keys/manifest.json", fixture.keysManifest);
  writeJson(`keys/${TEST_CIRCUIT_ID}.vkey.json`, fixture.vkey);
  writeJson("circuits.json", {
    circuits: [
      {
        circuitId: TEST_CIRCUIT_ID,
        vkeyHash: fixture.vkeyHash,
        nPublic: fixture.vkey.nPublic,
        constraints: 4007,
        insecure: true,
        vkey: fixture.vkey,
      },
    ],
  });
  const bundle = fixture.bundle("count");
  writeJson("bundle.json", bundle);
  writeJson("tampered.json", withValue(bundle, ["answer", "value"], "3"));
  writeFileSync(file("truncated.json"), JSON.stringify(bundle).slice(0, 100));
  mkdirSync(file("packs"));
  const [operatorTarball, verifierTarball] = await Promise.all([
    packPackage(REPO_ROOT, file("packs")),
    packPackage(join(REPO_ROOT, "packages/verifier"), file("packs")),
  ]);
  partner = file("partner");
  operator = file("operator");
  await installTarball(partner, verifierTarball, "closure");
  // --ignore-scripts: the native prover and better-sqlite3 builds are not what this test is about.
  await installTarball(operator, operatorTarball, "production", ["--ignore-scripts"]);
}, 900_000);

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await fixture?.release();
});

/** A partner's script: verify a bundle with the installed SDK and print the result as JSON. */
const PARTNER_SCRIPT = `
import { readFileSync } from "node:fs";
import { keysFromCircuitListing, parseStrictJson, verifyAny } from "@zktally/verifier";
const [bundleFile, keysFrom, dir, circuitId, operatorKey] = process.argv.slice(2);
const read = (name) => parseStrictJson(readFileSync(dir + "/" + name, "utf8"));
const keys = keysFrom === "listing"
  ? keysFromCircuitListing(readFileSync(dir + "/circuits.json", "utf8"))
  : { keys: { [circuitId]: read("keys/" + circuitId + ".vkey.json") }, keysManifest: read("keys/manifest.json") };
const result = verifyAny(readFileSync(bundleFile, "utf8"), { ...keys, operatorKey, allowInsecureKeys: true });
console.log(JSON.stringify(result));
`;

describe("@zktally/verifier, packed and installed", () => {
  it("installs with only @noble/curves, @noble/hashes and zod", () => {
    const installed = readdirSync(join(partner, "node_modules")).filter((name) => !name.startsWith("."));
    expect(installed.sort()).toEqual(["@noble", "@zktally", "zod"]);
    expect(readdirSync(join(partner, "node_modules/@noble")).sort()).toEqual(["curves", "hashes"]);
    const files = readdirSync(join(partner, "node_modules/@zktally/verifier/dist"));
    expect(files).toEqual(expect.arrayContaining(["index.js", "zktally-verifier.browser.js", "types"]));
  });

  it("plain node verifies a bundle (keys manifest or /v1/circuits keys) and rejects a tampered one", async () => {
    writeFileSync(join(partner, "verify.mjs"), PARTNER_SCRIPT);
    const script = (bundle: string, keysFrom: string) =>
      node(partner, ["verify.mjs", file(bundle), keysFrom, dir, TEST_CIRCUIT_ID, OPERATOR_KEY]);
    const [valid, fromListing, tampered] = await Promise.all([
      script("bundle.json", "manifest"),
      script("bundle.json", "listing"),
      script("tampered.json", "manifest"),
    ]);
    for (const run of [valid, fromListing]) {
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        valid: true,
        statement: BUNDLE_REQUESTS.count.statement,
        vkeyHash: fixture.vkeyHash,
      });
    }
    expect(JSON.parse(tampered.stdout)).toMatchObject({ valid: false, check: "public-signals" });
  });

  it("the browser bundle is one self-contained ES module", async () => {
    const browser = readFileSync(
      join(partner, "node_modules/@zktally/verifier/dist/zktally-verifier.browser.js"),
      "utf8",
    );
    expect(browser).not.toMatch(/\bfrom\s*"[^"]+"|\brequire\(|node:/);
    const script = `const m = await import("@zktally/verifier/browser"); console.log(typeof m.verifyAny, typeof m.verifyChain);`;
    const run = await node(partner, ["--input-type=module", "-e", script]);
    expect(run.stdout.trim(), run.stderr).toBe("function function");
  });

  it("its declarations type-check a partner's TypeScript (and catch a type error)", async () => {
    const source = `import { type BundleVerifyResult, keysFromCircuitListing, verifyAny } from "@zktally/verifier";
const listed = keysFromCircuitListing("{}");
const result = verifyAny({}, { ...listed, operatorKey: "00" }) as BundleVerifyResult;
export const text: string = result.valid ? result.statement : result.reason;
`;
    writeFileSync(join(partner, "check.ts"), source);
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        types: [],
        lib: ["ES2022", "DOM"],
      },
      files: ["check.ts"],
    };
    writeFileSync(join(partner, "tsconfig.json"), JSON.stringify(tsconfig));
    const tsc = join(REPO_ROOT, "node_modules/typescript/bin/tsc");
    const clean = await node(partner, [tsc, "-p", "."]);
    expect(clean.code, clean.stdout).toBe(0);
    writeFileSync(join(partner, "check.ts"), `${source}export const wrong: number = verifyAny;\n`);
    const wrong = await node(partner, [tsc, "-p", "."]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toMatch(/check\.ts.*not assignable to type 'number'/);
  }, 120_000);
});

/** Hooks recording every module the process resolves (to a file named by ZKTALLY_TRACE). */
const TRACE_HOOKS = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.ZKTALLY_TRACE, resolved.url + "\\n");
  return resolved;
}`;
const TRACE_REGISTER = `import { register } from "node:module"; register("./trace-hooks.mjs", import.meta.url);`;
const OPERATOR_MODULES =
  /node_modules\/(snarkjs|express|better-sqlite3|bullmq|ioredis|pino|circom2|circomlibjs)\//;

describe("zktally (operator package), packed and installed", () => {
  const bin = () => join(operator, "node_modules/zktally/bin/zktally.js");
  const cli = (args: readonly string[], env: Record<string, string> = {}) =>
    node(operator, [bin(), ...args], env);
  const trust = () => ["--operator-key", OPERATOR_KEY, "--allow-insecure-keys"];

  it("ships compiled JavaScript: no TypeScript sources, no tsx, bin on dist/", () => {
    const root = join(operator, "node_modules/zktally");
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(manifest.bin).toEqual({ zktally: "./bin/zktally.js" });
    expect(Object.keys(manifest.dependencies)).not.toContain("tsx");
    expect(readdirSync(root)).not.toContain("src");
    expect(readdirSync(root)).not.toContain("test");
    const dist = readdirSync(join(root, "dist"), { recursive: true }) as string[];
    expect(dist).toContain(join("cli", "main.js"));
    expect(dist).toContain("verify-page.html"); // the static browser verification page
    expect(dist.filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))).toEqual([]);
    expect(readFileSync(bin(), "utf8")).not.toMatch(/tsx/);
  });

  it('`import ... from "zktally/verifier"` works with plain node', async () => {
    const script = `import { verifyAny, BUNDLE_FORMAT } from "zktally/verifier"; console.log(typeof verifyAny, BUNDLE_FORMAT);`;
    const run = await node(operator, ["--input-type=module", "-e", script]);
    expect(run.stdout.trim(), run.stderr).toBe("function zktally-bundle/v1");
  });

  it("zktally verify: several bundles per call, keys from the API, distinct exit codes, no operator code", async () => {
    writeFileSync(join(operator, "trace-hooks.mjs"), TRACE_HOOKS);
    writeFileSync(join(operator, "trace.mjs"), TRACE_REGISTER);
    const trace = file("trace.txt");
    const [fromDir, fromApi, several, malformed, refused, usage] = await Promise.all([
      node(
        operator,
        ["--import", "./trace.mjs", bin(), "verify", file("bundle.json"), "--keys", file("keys"), ...trust()],
        {
          ZKTALLY_TRACE: trace,
        },
      ),
      cli(["verify", file("bundle.json"), "--keys", file("circuits.json"), ...trust()]),
      cli([
        "verify",
        file("bundle.json"),
        file("tampered.json"),
        "--keys",
        file("circuits.json"),
        ...trust(),
      ]),
      cli(["verify", file("truncated.json"), "--keys", file("keys"), ...trust()]),
      cli(["verify", file("bundle.json"), "--keys", file("keys"), "--operator-key", OPERATOR_KEY]),
      cli(["verify", file("bundle.json"), "--keys", file("keys"), "--bogus"]),
    ]);
    expect(fromDir.code, fromDir.stderr).toBe(0);
    expect(fromDir.stdout).toMatch(new RegExp(`^VALID  ${BUNDLE_REQUESTS.count.statement}\n`));
    const loaded = readFileSync(trace, "utf8").split("\n");
    expect(loaded.some((url) => url.includes("/dist/cli/verify-command.js"))).toBe(true);
    expect(
      loaded.filter((url) => OPERATOR_MODULES.test(url) || /\/dist\/(service|prover|setup)\//.test(url)),
    ).toEqual([]);

    expect(fromApi.code, fromApi.stderr).toBe(0);
    expect(fromApi.stdout).toContain(`key        ${fixture.vkeyHash}`);
    expect(several.code).toBe(1);
    expect(several.stdout).toMatch(
      /bundle .*bundle\.json\nVALID {2}[\s\S]*bundle .*tampered\.json\nINVALID /,
    );
    expect(several.stdout).toMatch(/2 bundles: 1 valid, 1 invalid, 0 malformed, 0 refused\n$/);
    expect(malformed.code).toBe(3);
    expect(malformed.stderr).toMatch(/^MALFORMED {2}bundle .*truncated\.json: not valid JSON/);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^REFUSED {2}.*INSECURE/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(
      /^zktally verify: Unknown option '--bogus'.*\nusage:\n {2}zktally verify BUNDLE\.\.\./,
    );
    expect(usage.stderr).not.toContain("serve");
  });

  it("--version and --help on verify and inspect exit 0", async () => {
    const version = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version;
    const [shown, verifyHelp, inspectHelp] = await Promise.all([
      cli(["--version"]),
      cli(["verify", "--help"]),
      cli(["inspect", "--help"]),
    ]);
    expect(shown).toMatchObject({ code: 0, stdout: `zktally ${version}\n` });
    expect(verifyHelp.code).toBe(0);
    expect(verifyHelp.stdout).toMatch(/^usage: zktally verify BUNDLE\.\.\./);
    expect(verifyHelp.stdout).toMatch(/3 {2}malformed input/);
    expect(verifyHelp.stdout).toMatch(/GET \/v1\/circuits/);
    expect(inspectHelp.code).toBe(0);
    expect(inspectHelp.stdout).toMatch(/WITHOUT\s+verifying/);
  });
});
