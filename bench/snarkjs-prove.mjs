/**
 * @module bench/snarkjs-prove
 *
 * Child process of bench/prove.ts: proves one zkey + wtns with snarkjs `runs` times (both files read into
 * memory first, as SnarkjsBackend holds them) and prints {seconds, cpuSeconds (process CPU, every thread),
 * maxRssKb} as one JSON line, so the peak RSS is snarkjs's alone.   node bench/snarkjs-prove.mjs <zkey> <wtns> <runs>
 */
import { readFile } from "node:fs/promises";
import * as snarkjs from "snarkjs";

const [zkeyPath, wtnsPath, runsArg] = process.argv.slice(2);
const zkey = new Uint8Array(await readFile(zkeyPath));
const wtns = new Uint8Array(await readFile(wtnsPath));
const seconds = [];
const cpuSeconds = [];
for (let i = 0; i < Number(runsArg ?? 3); i++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await snarkjs.groth16.prove({ type: "mem", data: zkey }, { type: "mem", data: wtns });
  const c = process.cpuUsage(c0);
  seconds.push((performance.now() - t0) / 1000);
  cpuSeconds.push((c.user + c.system) / 1e6);
}
await globalThis.curve_bn128?.terminate?.();
console.log(JSON.stringify({ seconds, cpuSeconds, maxRssKb: process.resourceUsage().maxRSS }));
process.exit(0);
