/**
 * @module prover/native-witness
 *
 * circom's C++ witness generator for the native backend: found next to the pinned wasm in the compile
 * cache (`<entry>/witness-cpp/`, built by `buildWitnessGenerator` at setup time), checked to come from the
 * same compile entry as the pinned wasm (its recorded wasm digest equals the pin) and unchanged since it was
 * built, then run once per witness as `<binary> /dev/stdin /dev/stdout`: the input goes in over a pipe and
 * the `.wtns` bytes come back over one, so the witness never touches the disk. It writes the same bytes as
 * the wasm generator (test/native-witness.test.ts) in a fraction of the time (docs/prover.md).
 *
 * Security caveats: any failure of the C++ generator (a failed assert or constraint, a bad input, a crash)
 * is not reported from its output: the caller computes the witness with the wasm generator instead, which
 * reports the error exactly as the other backends do (or, should the two ever disagree, gives the
 * witness). The input is normalised to decimal strings below r first, as the wasm generator reads it.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { FIELD_ORDER } from "../core/field.ts";
import { readWitnessGenerator } from "../setup/compile.ts";

/** Which generator computes a circuit's witnesses. */
export type WitnessEngine = "native" | "wasm";

/** The C++ generator binary for the compile entry that holds `wasmPath`, or why there is none. */
export async function locateWitnessGenerator(
  circuitId: string,
  wasmPath: string,
  wasmSha256: string,
): Promise<{ binaryPath: string } | { reason: string }> {
  const compileDir = path.dirname(path.dirname(wasmPath));
  const found = await readWitnessGenerator(compileDir, circuitId, wasmSha256);
  return "generator" in found ? { binaryPath: found.generator.binaryPath } : found;
}

/** The one line saying which witness generator a circuit uses. */
export function witnessEngineLine(circuitId: string, engine: WitnessEngine, reason?: string): string {
  return engine === "native"
    ? `zktally: circuit ${circuitId}: witnesses by circom's C++ generator`
    : `zktally: circuit ${circuitId}: witnesses by the wasm generator (${reason ?? "no C++ generator"})`;
}

/**
 * The witness input as JSON the C++ generator reads like the wasm one: every leaf (bigint, integer number,
 * numeric string, boolean) as a decimal string reduced mod r, arrays and objects kept. Undefined when a
 * leaf is anything else (the wasm generator then reports it).
 */
export function circomInputJson(input: Record<string, unknown>): string | undefined {
  try {
    return JSON.stringify(normalise(input));
  } catch {
    return undefined;
  }
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value === "bigint" || typeof value === "boolean" || typeof value === "string") {
    return reduce(BigInt(value));
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new RangeError("not a safe integer");
    return reduce(BigInt(value));
  }
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  throw new TypeError("not a witness value");
}

const reduce = (x: bigint): string => (((x % FIELD_ORDER) + FIELD_ORDER) % FIELD_ORDER).toString();

/**
 * Runs the generator on one input; resolves with the `.wtns` bytes, rejects unless it wrote exactly one
 * witness file of the BN254 scalar field (a failed assert aborts it before it writes; anything it prints
 * lands in the same stream and breaks the check). Node's stdio are socket pairs, which the generator
 * cannot open as /dev/stdin and /dev/stdout, so `sh` puts it between two `cat`s (real pipes).
 */
export function runWitnessGenerator(binaryPath: string, inputJson: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", 'cat | "$0" /dev/stdin /dev/stdout | cat', binaryPath], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    const out: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stdin.on("error", () => undefined); // a generator that exits early closes the pipe
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const bytes = Buffer.concat(out);
      if (code !== 0 || !isWitnessFile(bytes)) {
        return reject(new Error(`C++ witness generator failed (${signal ?? `exit code ${code}`})`));
      }
      resolve(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    });
    child.stdin.end(inputJson);
  });
}

const R_BYTES = Buffer.alloc(32);
R_BYTES.set(Buffer.from(FIELD_ORDER.toString(16).padStart(64, "0"), "hex").reverse());

/** Exactly the layout the generator writes: "wtns" v2, header (n8 = 32, r, nVars), 32 * nVars values. */
function isWitnessFile(b: Buffer): boolean {
  if (b.length < 64 || b.toString("latin1", 0, 4) !== "wtns") return false;
  const header = [b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12), Number(b.readBigUInt64LE(16))];
  if (header.join() !== "2,2,1,40" || b.readUInt32LE(24) !== 32 || !b.subarray(28, 60).equals(R_BYTES)) {
    return false;
  }
  const nVars = b.readUInt32LE(60);
  if (b.readUInt32LE(64) !== 2 || Number(b.readBigUInt64LE(68)) !== 32 * nVars) return false;
  return b.length === 76 + 32 * nVars;
}
