/**
 * @module bench/setup
 *
 * Development trusted-setup timings: the fast path of `src/setup/fast` (ptau from known toxic waste, zkey
 * by fixed-base multiplications) against snarkjs (`powersoftau new` + `contribute` + `prepare phase2`, and
 * `zKey.newZKey`) for small powers, then the fast path alone for a big power with a synthetic circuit (a chain
 * of multiplications with full-size field constants in every linear combination).
 * snarkjs figures for sizes it was not run on are extrapolated and marked `≈` (ptau ~ 2^p * p from the
 * largest measured power; newZKey linear in constraints from the largest measured circuit).
 *
 *   npx tsx bench/setup.ts [--powers 10,12] [--big-power 16] [--big-constraints 60000] [--threads N]
 *                          [--skip-big] [--snarkjs-big]
 *
 * Every fast zkey measured next to a snarkjs one is also checked byte for byte. Wall and process CPU time
 * (all threads) are both printed: on a shared machine CPU time is the steadier figure.
 * Writes scratch files under `<build>/bench-setup/`.
 *
 * Last, the first run of `npm start` from empty caches (every default circuit), ending with the line
 * `dev setup total: N s`.
 *
 * SECURITY: all artifacts are INSECURE development files (known toxic waste); they are deleted afterwards.
 */

import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { DEFAULT_SHAPES } from "../src/config/defaults.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { newDevZKey, toxicWasteFromSeed, writeDevPtau } from "../src/setup/fast/index.ts";
import { ensureMainFile } from "../src/setup/main-files.ts";
import { buildRoot, REPO_ROOT } from "../src/setup/paths.ts";
import { setupCircuit } from "../src/setup/phase2.ts";
import { devPtau, requiredPtauPower, terminateCurveWorkers } from "../src/setup/ptau.ts";

interface Options {
  powers: number[];
  bigPower: number;
  bigConstraints: number;
  threads?: number;
  skipBig: boolean;
  snarkjsBig: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = {
    powers: [10, 12],
    bigPower: 16,
    bigConstraints: 60000,
    skipBig: false,
    snarkjsBig: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new TypeError(`${arg} needs a value`);
      return v;
    };
    const int = (v: string, name: string, lo: number, hi: number) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < lo || n > hi)
        throw new RangeError(`${name} must be an integer in ${lo}..${hi}`);
      return n;
    };
    if (arg === "--powers")
      opts.powers = value()
        .split(",")
        .map((p) => int(p, "--powers", 1, 20));
    else if (arg === "--big-power") opts.bigPower = int(value(), "--big-power", 1, 24);
    else if (arg === "--big-constraints") opts.bigConstraints = int(value(), "--big-constraints", 1, 1 << 24);
    else if (arg === "--threads") opts.threads = int(value(), "--threads", 1, 64);
    else if (arg === "--skip-big") opts.skipBig = true;
    else if (arg === "--snarkjs-big") opts.snarkjsBig = true;
    else throw new TypeError(`unknown argument ${arg}`);
  }
  return opts;
}

interface Timing {
  wall: number;
  cpu: number;
}

async function timed<T>(task: () => Promise<T>): Promise<[T, Timing]> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await task();
  const cpu = process.cpuUsage(cpu0);
  return [result, { wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 }];
}

const fmt = (t: Timing | undefined) => (t ? `${t.wall.toFixed(1)} s (cpu ${t.cpu.toFixed(1)})` : "-");
const approx = (seconds: number) => `≈ ${seconds.toFixed(0)} s (extrapolated)`;

const quietLogger = {
  debug() {},
  info() {},
  warn() {},
  error: (m: string) => console.error(`snarkjs: ${m}`),
};

/**
 * Synthetic benchmark circuit: a chain of `n` multiplications whose linear combinations carry full-size field
 * constants (as in hash circuits such as Poseidon), so snarkjs's per-wire multi-exponentiations see real
 * 254-bit coefficients instead of 1s. n constraints, 1 public input, 1 output; compiled through the cache.
 */
async function benchCircuit(dir: string, n: number) {
  const main = path.join(dir, `bench_poly_${n}.circom`);
  const source = `pragma circom 2.1.6;

template Poly(n) {
    signal input x;
    signal output y;
    signal acc[n + 1];
    acc[0] <== x;
    for (var i = 0; i < n; i++) {
        acc[i + 1] <== (acc[i] * ${BIG_CONSTANTS[0]} + i) * (acc[i] * ${BIG_CONSTANTS[1]} + 1);
    }
    y <== acc[n];
}

component main {public [x]} = Poly(${n});
`;
  await writeFile(main, source);
  return compileCircuit(path.relative(REPO_ROOT, main));
}

/** Two arbitrary constants below r (76-77 decimal digits). */
const BIG_CONSTANTS = [
  "12345678901234567890123456789012345678901234567890123456789012345678901234567",
  "9876543210987654321098765432109876543210987654321098765432109876543210987654",
] as const;

async function snarkjsPtau(dir: string, power: number): Promise<Timing> {
  const curve = await snarkjs.curves.getCurveFromName("bn128");
  const [f0, f1, f2] = ["0", "1", "2"].map((s) => path.join(dir, `snarkjs-${power}-${s}.ptau`)) as [
    string,
    string,
    string,
  ];
  const [, timing] = await timed(async () => {
    await snarkjs.powersOfTau.newAccumulator(curve, power, f0, quietLogger);
    await snarkjs.powersOfTau.contribute(f0, f1, "bench", randomBytes(32).toString("hex"), quietLogger);
    await snarkjs.powersOfTau.preparePhase2(f1, f2, quietLogger);
  });
  await Promise.all([f0, f1, f2].map((f) => rm(f, { force: true })));
  return timing;
}

interface Row {
  size: string;
  fast: Timing;
  snarkjs?: Timing;
  snarkjsText?: string;
  note?: string;
}

function printTable(title: string, rows: readonly Row[]): void {
  console.log(`\n${title}\n`);
  console.log("| size | fast | snarkjs | speed-up | note |");
  console.log("|---|---|---|---|---|");
  for (const r of rows) {
    const reference = r.snarkjs ? fmt(r.snarkjs) : (r.snarkjsText ?? "-");
    const speedup = r.snarkjs ? `${(r.snarkjs.wall / r.fast.wall).toFixed(1)}x` : "";
    console.log(`| ${r.size} | ${fmt(r.fast)} | ${reference} | ${speedup} | ${r.note ?? ""} |`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const dir = path.join(buildRoot(), "bench-setup");
  await mkdir(dir, { recursive: true });
  const threads = opts.threads;
  const ptauRows: Row[] = [];
  const zkeyRows: Row[] = [];
  let lastSnarkPtau: { power: number; seconds: number } | undefined;
  let lastSnarkZkey: { constraints: number; seconds: number } | undefined;
  try {
    for (const power of opts.powers) {
      console.error(`[bench] power ${power}`);
      const ptauPath = path.join(dir, `fast-${power}.ptau`);
      const [ptau, fast] = await timed(() =>
        writeDevPtau({ power, outPath: ptauPath, revealSecrets: true, threads }),
      );
      const reference = await snarkjsPtau(dir, power);
      lastSnarkPtau = { power, seconds: reference.wall };
      ptauRows.push({ size: `power ${power}`, fast, snarkjs: reference });
      const constraints = 2 ** (power - 1);
      const circuit = await benchCircuit(dir, constraints);
      const fastZkey = path.join(dir, `chain-${constraints}.fast.zkey`);
      const snarkZkey = path.join(dir, `chain-${constraints}.snarkjs.zkey`);
      const secrets = ptau.secrets;
      if (!secrets) throw new Error("writeDevPtau did not reveal the secrets");
      const [, zFast] = await timed(() =>
        newDevZKey({ r1csPath: circuit.r1csPath, ptauPath, zkeyPath: fastZkey, secrets, threads }),
      );
      const [, zSnark] = await timed(() =>
        snarkjs.zKey.newZKey(circuit.r1csPath, ptauPath, snarkZkey, quietLogger),
      );
      const identical = (await readFile(fastZkey)).equals(await readFile(snarkZkey));
      lastSnarkZkey = { constraints, seconds: zSnark.wall };
      zkeyRows.push({
        size: `${constraints} constraints (power ${power})`,
        fast: zFast,
        snarkjs: zSnark,
        note: identical ? "byte-identical" : "DIFFERENT BYTES",
      });
      await Promise.all(
        [ptauPath, `${ptauPath}.json`, fastZkey, snarkZkey].map((f) => rm(f, { force: true })),
      );
    }
    if (!opts.skipBig) await runBig(opts, dir, ptauRows, zkeyRows, lastSnarkPtau, lastSnarkZkey);
  } finally {
    await terminateCurveWorkers();
  }
  printTable("Phase 1: prepared dev ptau (snarkjs: new + contribute + prepare phase2)", ptauRows);
  printTable(
    "Phase 2: initial zkey (snarkjs: zKey.newZKey), synthetic circuits with 254-bit coefficients",
    zkeyRows,
  );
  console.log(`\nthreads: ${threads ?? "default (available parallelism)"}; wall and process CPU seconds.`);
  const first = await firstRun();
  console.log(
    "\nFirst run of `npm start`: every default circuit from an empty cache (compile, dev ptau, phase 2)\n",
  );
  console.log("| step | wall | cpu |");
  console.log("|---|---|---|");
  for (const [step, timing] of first.steps)
    console.log(`| ${step} | ${timing.wall.toFixed(1)} s | ${timing.cpu.toFixed(1)} s |`);
  console.log(`\ndev setup total: ${first.total.wall.toFixed(1)} s`);
}

/**
 * The first run of `npm start` as a user sees it: the default circuits compiled, a dev ptau computed and
 * phase 2 run (fast initial zkey, contribution, beacon, verifyFromInit), all into empty temporary caches.
 */
async function firstRun(): Promise<{ steps: [string, Timing][]; total: Timing }> {
  const buildDir = await mkdtemp(path.join(tmpdir(), "zktally-first-run-"));
  const steps: [string, Timing][] = [];
  try {
    const [, total] = await timed(async () => {
      const compiled = [];
      for (const shape of DEFAULT_SHAPES) {
        const main = await ensureMainFile(shape);
        const [circuit, t] = await timed(() => compileCircuit(main, { buildDir }));
        steps.push([`compile ${circuit.id} (${circuit.constraints} constraints)`, t]);
        compiled.push(circuit);
      }
      const power = Math.max(...compiled.map(requiredPtauPower));
      const [ptau, tp] = await timed(() => devPtau(power, { buildDir }));
      steps.push([`dev ptau power ${power} (fast, known toxic waste)`, tp]);
      for (const circuit of compiled) {
        const devSecrets = toxicWasteFromSeed(ptau.secretsSeed as string);
        const [, ts] = await timed(() =>
          setupCircuit(circuit, ptau.path, { buildDir, ptauSha256: ptau.sha256, devSecrets }),
        );
        steps.push([`phase 2 ${circuit.id}: fast zkey + contribution + beacon + verifyFromInit`, ts]);
      }
    });
    return { steps, total };
  } finally {
    await rm(buildDir, { recursive: true, force: true });
    await terminateCurveWorkers();
  }
}

async function runBig(
  opts: Options,
  dir: string,
  ptauRows: Row[],
  zkeyRows: Row[],
  lastPtau: { power: number; seconds: number } | undefined,
  lastZkey: { constraints: number; seconds: number } | undefined,
): Promise<void> {
  const power = opts.bigPower;
  console.error(`[bench] big: power ${power}, ${opts.bigConstraints} constraints`);
  const ptauPath = path.join(dir, `fast-${power}.ptau`);
  const [ptau, fast] = await timed(() =>
    writeDevPtau({ power, outPath: ptauPath, revealSecrets: true, threads: opts.threads }),
  );
  const ptauEstimate = lastPtau
    ? approx(lastPtau.seconds * 2 ** (power - lastPtau.power) * ((power + 1) / (lastPtau.power + 1)))
    : "-";
  ptauRows.push({ size: `power ${power}`, fast, snarkjsText: ptauEstimate, note: "snarkjs not run" });
  const circuit = await benchCircuit(dir, opts.bigConstraints);
  const needed = Math.floor(Math.log2(circuit.constraints + 2)) + 1;
  if (needed > power) throw new RangeError(`--big-constraints needs power ${needed} > --big-power ${power}`);
  const fastZkey = path.join(dir, "big.fast.zkey");
  const secrets = ptau.secrets;
  if (!secrets) throw new Error("writeDevPtau did not reveal the secrets");
  const [, zFast] = await timed(() =>
    newDevZKey({ r1csPath: circuit.r1csPath, ptauPath, zkeyPath: fastZkey, secrets, threads: opts.threads }),
  );
  const row: Row = { size: `${circuit.constraints} constraints (power ${power})`, fast: zFast };
  if (opts.snarkjsBig) {
    const snarkZkey = path.join(dir, "big.snarkjs.zkey");
    const [, zSnark] = await timed(() =>
      snarkjs.zKey.newZKey(circuit.r1csPath, ptauPath, snarkZkey, quietLogger),
    );
    row.snarkjs = zSnark;
    row.note = (await readFile(fastZkey)).equals(await readFile(snarkZkey))
      ? "byte-identical"
      : "DIFFERENT BYTES";
    await rm(snarkZkey, { force: true });
  } else {
    row.snarkjsText = lastZkey
      ? approx((lastZkey.seconds * circuit.constraints) / lastZkey.constraints)
      : "-";
    row.note = "snarkjs not run (--snarkjs-big)";
  }
  zkeyRows.push(row);
  await Promise.all([ptauPath, `${ptauPath}.json`, fastZkey].map((f) => rm(f, { force: true })));
}

await main();
