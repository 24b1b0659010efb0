/**
 * `zktally setup` as a new user meets it: a ptau too small for the chosen aggregate shape is refused from
 * the shape alone, before anything is compiled (exit 2, the power needed and what to do), and `setup --dev`
 * makes INSECURE development keys for a circuit from a development ptau of the power it needs (cached
 * build artifacts of the test circuit: no new compile).
 */
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { devPtau } from "../src/setup/ptau.ts";
import { captureCliOutput, cliRunner } from "./helpers/cli-output.ts";
import { TEST_CIRCUIT, tempDir } from "./helpers/service.ts";

const captured = captureCliOutput();
const keysDir = tempDir("cli-setup");
afterAll(() => {
  rmSync(keysDir, { recursive: true, force: true });
});

const cli = cliRunner(captured);

describe("zktally setup", () => {
  it("refuses a ptau too small for the shape before compiling", async () => {
    // The test circuit's own dev ptau (cached by the global setup), far below the 2^16 this shape needs.
    const ptau = (await devPtau(12)).path;
    const { code, text } = await cli(
      "setup",
      "--ptau",
      ptau,
      "--allow-unknown-ptau",
      "--circuit",
      "aggregate-64x8x4",
      "--keys",
      keysDir,
    );
    expect(code).toBe(2);
    expect(text).toContain("aggregate-64x8x4 needs a ptau of power >= 16 (from its shape, before compiling)");
    expect(text).toContain("zktally setup --dev --circuit aggregate-64x8x4");
    expect(text).not.toMatch(/compil(e|ing) aggregate/);
  });

  it("--dev builds INSECURE development keys of a circuit into the keys directory", async () => {
    const { code, text } = await cli("setup", "--dev", "--circuit", TEST_CIRCUIT, "--keys", keysDir);
    const json = await cli("setup", "--dev", "--circuit", TEST_CIRCUIT, "--keys", keysDir, "--json");
    // stdout's one JSON line (progress lines go to stderr, captured here too).
    const line = json.text.split("\n").find((text) => text.startsWith("{")) as string;
    expect(JSON.parse(line)).toMatchObject({ insecure: true, circuits: [{ circuitId: TEST_CIRCUIT }] });
    expect(code, text).toBe(0);
    expect(text).toMatch(/ptau: development ptau of power \d+ \(INSECURE/);
    const manifest = JSON.parse(readFileSync(path.join(keysDir, "manifest.json"), "utf8"));
    expect(manifest.insecure).toBe(true);
    expect(Object.keys(manifest.circuits)).toEqual([TEST_CIRCUIT]);
  });
});
