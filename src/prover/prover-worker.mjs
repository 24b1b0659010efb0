/**
 * @module prover/prover-worker
 *
 * Child process of `WorkerProverBackend` (worker-backend.ts): holds pin-checked zkey and wasm bytes handed
 * over by the parent (the service) and runs snarkjs witness calculation and Groth16 proving off the event loop that
 * serves HTTP. A process rather than a worker thread: ffjavascript's `web-worker` dependency cannot be
 * loaded inside a worker thread, and a crashed or out-of-memory prover must not take the service down.
 * Plain JavaScript so it runs the same under tsx, vitest and node. It exits when its parent goes away.
 *
 * argv: <nice> [snarkjs | native <prover executable>]. With `native`, witnesses still come from the wasm
 * generator and the proof from the native prover (a `zktally-prover serve` grandchild, native-client.mjs):
 * each zkey is handed over with `loadbytes` and the SHA-256 the prover reports for the bytes it holds must
 * equal the SHA-256 of the bytes this process was given (which the service pin-checked).
 *
 * Messages in: {type: "load", circuitId, zkey, wasm} | {type: "prove", id, circuitId, input} | {type: "close"}.
 * Messages out: {type: "proved", id, proof, publicSignals, timings} | {type: "error", id, phase, message}.
 *
 * Security caveat: the witness input holds private records and salts. Error messages are sent back raw and
 * must be sanitised by the main thread (sanitizeWitnessReason) before they go anywhere.
 */
import { setPriority } from "node:os";

// Lower this process's scheduling priority before snarkjs starts its curve threads (they inherit it), so
// proofs use idle CPU and HTTP requests in the service stay responsive. argv[2] is the nice value.
const nice = Number(process.argv[2] ?? 0);
if (Number.isInteger(nice) && nice > 0) {
  try {
    setPriority(Math.min(nice, 19));
  } catch {
    // Not permitted here: prove at normal priority.
  }
}
const snarkjs = await import("snarkjs");
const engine = process.argv[3] === "native" ? "native" : "snarkjs";
const native = engine === "native" ? await startNative(process.argv[4]) : undefined;

const circuits = new Map();

async function startNative(path) {
  const { NativeProverProcess } = await import("../prover/native-client.mjs");
  return new NativeProverProcess({ path });
}

/** Loads a circuit's zkey into the native prover (again after a prover restart) and checks its digest. */
async function nativeLoad(circuitId, circuit) {
  const { createHash } = await import("node:crypto");
  const info = await native.loadBytes(circuitId, circuit.zkey);
  const expected = createHash("sha256").update(circuit.zkey).digest("hex");
  if (info.sha256 !== expected) {
    await native.unload(circuitId).catch(() => undefined);
    throw new Error(`native prover holds other key bytes for ${circuitId}`);
  }
}

async function nativeProve(circuitId, circuit, wtns) {
  if (!native.loaded.has(circuitId)) await nativeLoad(circuitId, circuit);
  const reply = await native.prove(circuitId, wtns);
  return { proof: reply.proof, publicSignals: reply.publicSignals };
}

function send(message) {
  if (process.connected) process.send(message);
}

async function prove({ id, circuitId, input }) {
  const circuit = circuits.get(circuitId);
  if (!circuit) {
    send({ type: "error", id, phase: "load", message: `circuit ${circuitId} not loaded` });
    return;
  }
  const witness = { type: "mem" };
  const witnessStart = performance.now();
  try {
    await snarkjs.wtns.calculate(input, { type: "mem", data: circuit.wasm }, witness);
  } catch (error) {
    send({ type: "error", id, phase: "witness", message: String(error?.message ?? error) });
    return;
  }
  const proveStart = performance.now();
  try {
    const { proof, publicSignals } = native
      ? await nativeProve(circuitId, circuit, witness.data)
      : await snarkjs.groth16.prove({ type: "mem", data: circuit.zkey }, witness);
    const done = performance.now();
    send({
      type: "proved",
      id,
      proof,
      publicSignals,
      timings: { witnessMs: proveStart - witnessStart, proveMs: done - proveStart },
    });
  } catch (error) {
    send({ type: "error", id, phase: "prove", message: String(error?.message ?? error) });
  }
}

// The native grandchild exits on its own when its stdin closes (this process's exit).
process.on("disconnect", () => process.exit(0));
process.on("message", (message) => {
  if (message.type === "load") {
    circuits.set(message.circuitId, { zkey: message.zkey, wasm: message.wasm });
  } else if (message.type === "prove") {
    prove(message);
  } else if (message.type === "close") {
    circuits.clear();
    const curve = globalThis.curve_bn128;
    Promise.all([curve?.terminate?.(), native?.close()]).finally(() => process.exit(0));
  }
});
