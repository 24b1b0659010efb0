/**
 * @module bench/cli
 *
 * Start-to-finish time of the compiled `zktally` CLI (issue 14: `zktally verify` under 0.5 s): each row runs
 * a fresh `node` process ROUNDS times and reports the median and the fastest wall-clock time:
 * - `zktally --version` (the floor: Node startup plus cli/main),
 * - `zktally verify BUNDLE` of a real bundle of the test circuit (compiled CLI, keys directory),
 * - the same with the keys from a saved `GET /v1/circuits` answer,
 * - `zktally help` (loads every operator command: what `verify` avoids),
 * - `tsx src/cli/main.ts verify BUNDLE` (from the sources, as before issue 14; fewer rounds).
 *
 * Run: `npm run bench:cli` (builds dist/ first when stale: `node scripts/build.mjs`). Prints one table (wall
 * clock, and the child's CPU time from `/usr/bin/time`) and ends with
 * `zktally verify wall time: X s (target < 0.5 s)`, the compiled verify row's median.
 *
 * Caveat: process start times are sensitive to machine load; the table header prints the load average, and
 * the CPU column is what the wall time approaches on an idle machine (the CLI is single-threaded).
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { buildBundleFixture, OPERATOR_KEY, TEST_CIRCUIT_ID } from "../test/helpers/bundles.ts";
import { buildTestKeys } from "../test/helpers/keys.ts";

const ROUNDS = Number(process.argv[2] ?? 9);

/** One run under `/usr/bin/time`: wall clock here, CPU (user + system) of the child from time's line. */
function runOnce(
  command: string,
  args: readonly string[],
): Promise<{ ms: number; cpuMs: number; code: number }> {
  const started = performance.now();
  const timed = ["-f", "cpu %U %S", command, ...args];
  return new Promise((resolve) => {
    execFile("/usr/bin/time", timed, { cwd: REPO_ROOT }, (error, _stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 70;
      const match = /cpu (\d+\.\d+) (\d+\.\d+)\s*$/.exec(stderr);
      const cpuMs = match ? (Number(match[1]) + Number(match[2])) * 1000 : Number.NaN;
      resolve({ ms: performance.now() - started, cpuMs, code });
    });
  });
}

interface Row {
  readonly name: string;
  readonly median: number;
  readonly fastest: number;
  readonly cpu: number;
  readonly code: number;
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

async function measure(
  name: string,
  command: string,
  args: readonly string[],
  rounds = ROUNDS,
): Promise<Row> {
  const times: number[] = [];
  const cpu: number[] = [];
  let code = 0;
  for (let round = 0; round < rounds; round++) {
    const run = await runOnce(command, args);
    times.push(run.ms);
    cpu.push(run.cpuMs);
    code = run.code;
  }
  return { name, median: median(times), fastest: Math.min(...times), cpu: median(cpu), code };
}

async function main(): Promise<void> {
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: REPO_ROOT, stdio: "inherit" });
  if (build.status !== 0) throw new Error("scripts/build.mjs failed");
  await buildTestKeys();
  const fixture = await buildBundleFixture(["count"]);
  const dir = mkdtempSync(join(tmpdir(), "zktally-bench-cli-"));
  try {
    mkdirSync(join(dir, "keys"));
    writeFileSync(join(dir, "keys/manifest.json"), JSON.stringify(fixture.keysManifest));
    writeFileSync(join(dir, `keys/${TEST_CIRCUIT_ID}.vkey.json`), JSON.stringify(fixture.vkey));
    const listing = {
      circuits: [
        {
          circuitId: TEST_CIRCUIT_ID,
          vkeyHash: fixture.vkeyHash,
          nPublic: fixture.vkey.nPublic,
          insecure: fixture.keysManifest.insecure,
          vkey: fixture.vkey,
        },
      ],
    };
    writeFileSync(join(dir, "circuits.json"), JSON.stringify(listing));
    writeFileSync(join(dir, "bundle.json"), JSON.stringify(fixture.bundle("count")));
    const trust = ["--operator-key", OPERATOR_KEY, "--allow-insecure-keys"];
    const verifyArgs = (keys: string) => [
      "verify",
      join(dir, "bundle.json"),
      "--keys",
      join(dir, keys),
      ...trust,
    ];
    const bin = join(REPO_ROOT, "bin/zktally.js");
    const tsx = join(REPO_ROOT, "node_modules/.bin/tsx");
    const rows = [
      await measure("zktally --version", process.execPath, [bin, "--version"]),
      await measure("zktally verify (keys dir)", process.execPath, [bin, ...verifyArgs("keys")]),
      await measure("zktally verify (keys from /v1/circuits)", process.execPath, [
        bin,
        ...verifyArgs("circuits.json"),
      ]),
      await measure("zktally help (loads every command)", process.execPath, [bin, "help"]),
      await measure(
        "tsx src/cli/main.ts verify (sources)",
        tsx,
        ["src/cli/main.ts", ...verifyArgs("keys")],
        3,
      ),
    ];
    const version = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version;
    const load = loadavg()
      .map((value) => value.toFixed(2))
      .join(" ");
    console.log(`zktally ${version}, Node ${process.version}, ${cpus().length} cores, load average ${load}`);
    console.log("| command | wall median s | wall fastest s | CPU median s | exit |");
    console.log("|---|---|---|---|---|");
    const seconds = (ms: number) => (ms / 1000).toFixed(3);
    for (const row of rows) {
      const cells = [row.name, seconds(row.median), seconds(row.fastest), seconds(row.cpu), row.code];
      console.log(`| ${cells.join(" | ")} |`);
    }
    const verify = rows[1] as Row;
    if (verify.code !== 0) throw new Error(`zktally verify exited ${verify.code}`);
    console.log(`zktally verify wall time: ${(verify.median / 1000).toFixed(3)} s (target < 0.5 s)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await fixture.release();
    await terminateCurveWorkers();
  }
}

await main();
