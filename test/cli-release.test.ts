/**
 * `zktally release` end to end through the whole command line (cli/run.ts, in process): a 32-record
 * geoeditors-style dataset (2 wikis x 4 countries x 2 activity levels) released with `--dev`, writing
 * manifest.json, release.json and release.tsv; `zktally verify` accepts them and refuses the release with an
 * edited TSV line (exit 1).
 *
 * Cost: the flags pin exactly the circuits of test/release.test.ts (RELEASE_TEST_SHAPE: `--tables 2`, chunk
 * layout S = 16, B = 4, T = 1, and a risk list whose strictest tier needs exactly its 128 coins), so both
 * files compile and set up the same two circuits on the same development ptau: the build cache serves
 * whichever runs second. The keys directory is this file's own, so the two never write one manifest at once.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noisyPassFinalCircuitId } from "../src/circuits/pass-noise.ts";
import { passCircuitId } from "../src/circuits/pass-shape.ts";
import { coinsForTiers } from "../src/release/offline.ts";
import { parseRiskList } from "../src/release/risk.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { RELEASE_TEST_SHAPE } from "./helpers/circuits.ts";
import { captureCliOutput, cliRunner } from "./helpers/cli-output.ts";
import { RELEASE_SCHEMA_JSON } from "./helpers/release-service.ts";
import { tempDir } from "./helpers/service.ts";

const dir = tempDir("cli-release");
const out = path.join(dir, "out");
const keysDir = path.join(buildRoot(), "test-keys-release-cli");
const captured = captureCliOutput();
const cli = cliRunner(captured);
const COUNTRIES = ["DE", "FR", "US", "IN"];
const LEVELS = ["5 to 99", "100 or more"];
/** Epsilon 0.76 at delta 1e-6 needs 128 coins: the pass final of RELEASE_TEST_SHAPE (n128). */
const RISK = { tiers: { low: 4, high: 0.76 }, delta: 1e-6, default: "low", countries: { IN: "high" } };
const LAYOUT = RELEASE_TEST_SHAPE.pass.chunk.layout;

/** 32 records, countries skewed to DE and FR, every fourth editor very active. */
function datasetLines(): string {
  return Array.from({ length: 32 }, (_, i) =>
    JSON.stringify({
      userId: 10 * i + 1,
      wiki: i % 2 === 0 ? "enwiki" : "frwiki",
      country: COUNTRIES[[0, 0, 1, 0, 1, 2, 0, 3][i % 8] as number],
      activity: LEVELS[i % 4 === 3 ? 1 : 0],
      edits: 5 + 3 * i,
    }),
  ).join("\n");
}

let operatorKey = "";

beforeAll(async () => {
  await writeFile(path.join(dir, "schema.json"), JSON.stringify(RELEASE_SCHEMA_JSON));
  await writeFile(path.join(dir, "data.jsonl"), `${datasetLines()}\n`);
  await writeFile(path.join(dir, "risk.json"), JSON.stringify(RISK));
}, 60_000);

afterAll(async () => {
  await terminateCurveWorkers();
});

describe("zktally release, then zktally verify", () => {
  it("the risk list fits the release tests' pass final (no circuit of its own)", () => {
    expect(coinsForTiers(parseRiskList(JSON.stringify(RISK), COUNTRIES))).toBe(RELEASE_TEST_SHAPE.maxCoins);
  });

  it("writes manifest.json, release.json and release.tsv naming the release tests' circuits", async () => {
    const run = await cli(
      "release",
      ...["--data", path.join(dir, "data.jsonl"), "--schema", path.join(dir, "schema.json")],
      ...["--id", "geoeditors", "--risk", path.join(dir, "risk.json"), "--threshold", "3"],
      ...["--out", out, "--keys", keysDir, "--dev", "--data-dir", path.join(dir, "state"), "--tables", "2"],
      ...["--chunk-size", String(LAYOUT.chunkSize), "--leaf-records", String(LAYOUT.leafRecords)],
      ...["--tree-depth", String(LAYOUT.treeDepth)],
    );
    expect(run.code, run.text).toBe(0);
    const printed = JSON.parse(run.text.slice(run.text.indexOf("{\n"))) as { operatorKey: string };
    operatorKey = printed.operatorKey;
    expect(operatorKey).toMatch(/^[0-9a-f]+$/);
    const manifest = JSON.parse(await readFile(path.join(out, "manifest.json"), "utf8"));
    expect(manifest.circuits).toEqual([
      passCircuitId(RELEASE_TEST_SHAPE.pass),
      noisyPassFinalCircuitId(RELEASE_TEST_SHAPE),
    ]);
    expect(manifest.recordCount).toBe(32);
  }, 1_500_000);

  it("verify accepts the release and refuses it with an edited TSV (exit 1)", async () => {
    const release = path.join(out, "release.json");
    const verify = (...extra: string[]) =>
      cli(
        "verify",
        release,
        "--keys",
        keysDir,
        "--operator-key",
        operatorKey,
        "--allow-insecure-keys",
        ...extra,
      );
    const valid = await verify();
    expect(valid.code, valid.text).toBe(0);
    expect(valid.text).toContain("VALID  release of dataset geoeditors epoch 1");

    const lines = (await readFile(path.join(out, "release.tsv"), "utf8")).trim().split("\n");
    const [header, first, ...rest] = lines;
    const cells = (first ?? "").split("\t");
    cells[3] = String(Number(cells[3]) + 1);
    const edited = path.join(dir, "edited.tsv");
    await writeFile(edited, `${[header, cells.join("\t"), ...rest].join("\n")}\n`);
    const refused = await verify("--tsv", edited);
    expect(refused.code, refused.text).toBe(1);
    expect(refused.text).toContain("INVALID");
  }, 300_000);
});
