/**
 * `zktally verify` and `zktally inspect` (src/cli/verify-command.ts), run as a partner would: spawning
 * `npx tsx src/cli/main.ts ...` on files in a temp directory holding a real bundle, the signed manifest
 * and a copy of the pinned keys directory. Exit codes: 0 valid, 1 invalid, 2 usage, 3 malformed input, 4 refused.
 * Four spawns run concurrently (each costs ~2 s of CPU to start); the other paths are tested in-process
 * through the same `runVerify`/`runInspect` the spawned CLI calls. (Usage errors throw `UsageError`, which
 * cli/main.ts turns into exit code 2.)
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../src/cli/command.ts";
import { type Output, printable, runInspect, runVerify } from "../src/cli/verify-command.ts";
import { REPO_ROOT } from "./fixtures/verifier/fixture.ts";
import {
  BUNDLE_REQUESTS,
  type BundleFixture,
  buildBundleFixture,
  OPERATOR_KEY,
  TEST_CIRCUIT_ID,
  withValue,
} from "./helpers/bundles.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let fixture: BundleFixture;
let dir: string;
const file = (name: string) => join(dir, name);

function writeJson(name: string, value: unknown): void {
  writeFileSync(file(name), `${JSON.stringify(value, null, 2)}\n`);
}

beforeAll(async () => {
  fixture = await buildBundleFixture(["count"]);
  dir = mkdtempSync(join(tmpdir(), "zktally-verify-cli-"));
  mkdirSync(file("keys"));
  for (const name of ["manifest.json", `${TEST_CIRCUIT_ID}.vkey.json`]) {
    copyFileSync(join(TEST_KEYS_DIR, name), file(`keys/${name}`));
  }
  const bundle = fixture.bundle("count");
  writeJson("bundle.json", bundle);
  writeJson("m.json", fixture.dataset.manifest);
  writeJson("tampered.json", withValue(bundle, ["answer", "value"], "3"));
  writeJson("extra.json", { ...bundle, vkey: fixture.vkey });
  const text = JSON.stringify(bundle);
  writeFileSync(file("truncated.json"), text.slice(0, text.length / 2));
  mkdirSync(file("nokeys"));
});

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await fixture?.release();
});

/** Spawns `npx tsx src/cli/main.ts ...args` in the repository root. */
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["tsx", "src/cli/main.ts", ...args], { cwd: REPO_ROOT, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("zktally verify / inspect (spawned)", () => {
  it("exit 0 valid, 1 invalid, 3 malformed; inspect prints the statement without verifying", async () => {
    const statement = BUNDLE_REQUESTS.count.statement;
    const keys = ["--keys", file("keys")];
    const [valid, tampered, extra, inspect] = await Promise.all([
      cli(["verify", file("bundle.json"), "--manifest", file("m.json"), ...keys, "--allow-insecure-keys"]),
      cli([
        "verify",
        file("tampered.json"),
        "--manifest",
        file("m.json"),
        ...keys,
        "--allow-insecure-keys",
        "--json",
      ]),
      cli(["verify", file("extra.json"), ...keys, "--operator-key", OPERATOR_KEY]),
      cli(["inspect", file("bundle.json")]),
    ]);

    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stdout).toMatch(new RegExp(`^VALID  ${statement}\n`));
    expect(valid.stdout).toContain(`key        ${fixture.vkeyHash}`);
    expect(valid.stdout).toMatch(/warning .*INSECURE .*accepted because allowInsecureKeys is set/);

    expect(tampered.code, tampered.stderr).toBe(1);
    expect(JSON.parse(tampered.stdout)).toMatchObject({
      valid: false,
      check: "public-signals",
      reason: expect.stringMatching(/public signal 1 \(answer\) is 2, but .* require 3/),
    });

    expect(extra.code).toBe(3);
    expect(extra.stderr).toMatch(/^MALFORMED {2}vkey: unexpected field/);
    expect(extra.stdout).toBe("");

    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^NOT VERIFIED/);
    expect(inspect.stdout).toContain(`statement  ${statement}`);
  });
});

describe("verify command details (in-process)", () => {
  function capture(): Output & { text(): string } {
    const chunks: string[] = [];
    const write = (chunk: string) => {
      chunks.push(chunk);
    };
    return { out: write, err: write, text: () => chunks.join("") };
  }

  it("--json for machines, with --operator-key alone; malformed JSON and bad usage", async () => {
    const valid = capture();
    const keys = ["--keys", file("keys")];
    expect(
      await runVerify(
        [file("bundle.json"), ...keys, "--operator-key", OPERATOR_KEY, "--allow-insecure-keys", "--json"],
        valid,
      ),
    ).toBe(0);
    expect(JSON.parse(valid.text())).toMatchObject({
      valid: true,
      statement: BUNDLE_REQUESTS.count.statement,
      datasetId: "wiki-editors",
    });
    const replay = capture();
    const nonce = ["--nonce", "42", "--json"];
    expect(
      await runVerify([file("bundle.json"), ...keys, "--operator-key", OPERATOR_KEY, ...nonce], replay),
    ).toBe(1);
    expect(JSON.parse(replay.text())).toMatchObject({ valid: false, check: "nonce" });
    const truncated = capture();
    expect(
      await runVerify([file("truncated.json"), ...keys, "--operator-key", OPERATOR_KEY, "--json"], truncated),
    ).toBe(3);
    expect(JSON.parse(truncated.text())).toMatchObject({ valid: false, malformed: true });
    expect(JSON.parse(truncated.text()).reason).toMatch(/not valid JSON/);
    await expect(runVerify([file("bundle.json"), "--manifest", file("m.json")], capture())).rejects.toThrow(
      /verify needs --keys DIR/,
    );
    await expect(runVerify([file("bundle.json"), ...keys], capture())).rejects.toThrow(/--operator-key/);
    await expect(runInspect([file("bundle.json"), file("m.json")], capture())).rejects.toThrow(UsageError);
  });

  it("development keys are refused (exit 4, not VALID) unless --allow-insecure-keys is given", async () => {
    const args = [file("bundle.json"), "--keys", file("keys"), "--operator-key", OPERATOR_KEY];
    const refused = capture();
    expect(await runVerify(args, refused)).toBe(4);
    expect(refused.text()).toMatch(
      /^REFUSED {2}the verification keys of circuit .* INSECURE development setup .*\n {2}pass --allow-insecure-keys/,
    );
    expect(refused.text()).not.toMatch(/VALID/);
    const refusedJson = capture();
    expect(await runVerify([...args, "--json"], refusedJson)).toBe(4);
    expect(JSON.parse(refusedJson.text())).toMatchObject({
      valid: false,
      refused: true,
      check: "insecure-keys",
    });
    const allowed = capture();
    expect(await runVerify([...args, "--allow-insecure-keys"], allowed)).toBe(0);
    expect(allowed.text()).toMatch(/^VALID {2}/);
  });

  it("a bundle, keys manifest or manifest file with a duplicate key is malformed (exit 3, line and column)", async () => {
    const keys = ["--keys", file("keys")];
    const lines = JSON.stringify(fixture.bundle("count"), null, 2).split("\n");
    lines.splice(1, 0, '  "statement": "dataset wiki-editors epoch 3: 99 records match country = FR",');
    writeFileSync(file("twice.json"), lines.join("\n"));
    const twice = capture();
    expect(await runVerify([file("twice.json"), ...keys, "--operator-key", OPERATOR_KEY], twice)).toBe(3);
    expect(twice.text()).toMatch(
      /^MALFORMED {2}bundle .*twice\.json: not valid JSON \(line \d+ column 3: duplicate key "statement" \(first at line 2 column 3\)/,
    );
    const inspected = capture();
    expect(await runInspect([file("twice.json"), "--json"], inspected)).toBe(3);
    expect(JSON.parse(inspected.text())).toMatchObject({ malformed: true });

    mkdirSync(file("keys-twice"));
    copyFileSync(
      join(TEST_KEYS_DIR, `${TEST_CIRCUIT_ID}.vkey.json`),
      file(`keys-twice/${TEST_CIRCUIT_ID}.vkey.json`),
    );
    const keysText = readFileSync(join(TEST_KEYS_DIR, "manifest.json"), "utf8");
    writeFileSync(file("keys-twice/manifest.json"), `{"insecure": false,${keysText.trimStart().slice(1)}`);
    const keysTwice = capture();
    const keysArgs = [file("bundle.json"), "--keys", file("keys-twice"), "--operator-key", OPERATOR_KEY];
    expect(await runVerify(keysArgs, keysTwice)).toBe(3);
    expect(keysTwice.text()).toMatch(
      /keys manifest .*: not valid JSON \(line \d+ column \d+: duplicate key "insecure"/,
    );

    writeFileSync(file("m-twice.json"), `{"epoch": 4,${JSON.stringify(fixture.dataset.manifest).slice(1)}`);
    const manifestTwice = capture();
    expect(
      await runVerify([file("bundle.json"), ...keys, "--manifest", file("m-twice.json")], manifestTwice),
    ).toBe(3);
    expect(manifestTwice.text()).toMatch(/duplicate key "epoch"/);
  });

  it("escapes control and bidi characters from bundle text", async () => {
    expect(printable("a\u001b[2Kb\u202ec\nd")).toBe("a\\u001b[2Kb\\u202ec\\u000ad");
    const hostile = withValue(fixture.bundle("count"), ["statement"], "VALID\u001b[1A\u001b[2K all good");
    writeJson("hostile.json", hostile);
    const output = capture();
    const code = await runVerify(
      [file("hostile.json"), "--keys", file("keys"), "--operator-key", OPERATOR_KEY, "--allow-insecure-keys"],
      output,
    );
    expect(code).toBe(1);
    expect(output.text()).toMatch(/^INVALID {2}the statement text "VALID\\u001b\[1A/);
    expect(output.text()).not.toContain("\u001b");
    const inspected = capture();
    expect(await runInspect([file("hostile.json")], inspected)).toBe(0);
    expect(inspected.text()).toMatch(/warning {4}the bundle's own statement text differs/);
  });

  it("a keys directory without manifest.json, or without the circuit's key", async () => {
    const missing = capture();
    const args = [file("bundle.json"), "--operator-key", OPERATOR_KEY, "--json"];
    expect(await runVerify([...args, "--keys", file("nokeys")], missing)).toBe(3);
    expect(JSON.parse(missing.text()).reason).toMatch(/has no manifest.json/);
    mkdirSync(file("keys-only-manifest"));
    copyFileSync(join(TEST_KEYS_DIR, "manifest.json"), file("keys-only-manifest/manifest.json"));
    const unpinned = capture();
    expect(await runVerify([...args, "--keys", file("keys-only-manifest")], unpinned)).toBe(1);
    expect(JSON.parse(unpinned.text())).toMatchObject({ valid: false, check: "key" });
  });
});

describe("verify with keys from the API and several bundles (in-process)", () => {
  function capture(): Output & { text(): string } {
    const chunks: string[] = [];
    const write = (chunk: string) => {
      chunks.push(chunk);
    };
    return { out: write, err: write, text: () => chunks.join("") };
  }
  const listing = (overrides: Record<string, unknown> = {}) => ({
    circuits: [
      {
        circuitId: TEST_CIRCUIT_ID,
        vkeyHash: fixture.vkeyHash,
        nPublic: fixture.vkey.nPublic,
        constraints: 4007,
        insecure: true,
        vkey: fixture.vkey,
        ...overrides,
      },
    ],
  });

  it("--keys FILE takes the GET /v1/circuits answer; its insecure flag is honoured", async () => {
    writeJson("circuits.json", listing());
    const args = [file("bundle.json"), "--keys", file("circuits.json"), "--operator-key", OPERATOR_KEY];
    const valid = capture();
    expect(await runVerify([...args, "--allow-insecure-keys"], valid)).toBe(0);
    expect(valid.text()).toMatch(/^VALID {2}/);
    expect(await runVerify(args, capture())).toBe(4);
  });

  it("a listing whose key does not hash to its vkeyHash, or a keys file that is no listing, is malformed", async () => {
    const otherHash = "ab".repeat(32);
    writeJson("circuits-lying.json", listing({ vkeyHash: otherHash }));
    const lying = capture();
    const args = (keys: string) => [
      file("bundle.json"),
      "--keys",
      file(keys),
      "--operator-key",
      OPERATOR_KEY,
    ];
    expect(await runVerify([...args("circuits-lying.json"), "--json"], lying)).toBe(3);
    expect(JSON.parse(lying.text())).toMatchObject({
      malformed: true,
      field: "keys.circuits[0].vkey",
      reason: expect.stringMatching(/but the listing says vkeyHash abababab/),
    });
    const notListing = capture();
    expect(await runVerify(args("m.json"), notListing)).toBe(3);
    expect(notListing.text()).toMatch(/^MALFORMED {2}keys file .*m\.json: not a GET \/v1\/circuits answer/);
    const missing = capture();
    expect(await runVerify(args("no-such-file.json"), missing)).toBe(3);
    expect(missing.text()).toMatch(/cannot read \(ENOENT\)/);
  });

  it("several bundles: one JSON line each with its file, exit code the highest of theirs", async () => {
    const json = capture();
    const files = [file("bundle.json"), file("tampered.json"), file("truncated.json")];
    const args = [...files, "--keys", file("keys"), "--operator-key", OPERATOR_KEY, "--allow-insecure-keys"];
    expect(await runVerify([...args, "--json"], json)).toBe(3);
    const lines = json
      .text()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.file, line.valid])).toEqual(files.map((name, i) => [name, i === 0]));
    expect(lines[1]).toMatchObject({ check: "public-signals" });
    expect(lines[2]).toMatchObject({ malformed: true });
    await expect(
      runVerify(["--keys", file("keys"), "--operator-key", OPERATOR_KEY], capture()),
    ).rejects.toThrow(/one or more bundle files, got none/);
  });
});
