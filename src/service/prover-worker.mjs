/**
 * @module service/prover-worker
 *
 * Child process of `WorkerProverBackend` (worker-backend.ts): holds pin-checked zkey and wasm bytes handed
 * over by the service and runs snarkjs witness calculation and Groth16 proving off the event loop that
 * serves HTTP. A process rather than a worker thread: ffjavascript's `web-worker` dependency cannot be
 * loaded inside a worker thread, and a crashed or out-of-memory prover must not take the service down.
 * Plain JavaScript so it runs the same under tsx, vitest and node. It exits when its parent goes away.
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

const circuits = new Map();

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
    const { proof, publicSignals } = await snarkjs.groth16.prove(
      { type: "mem", data: circuit.zkey },
      witness,
    );
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

process.on("disconnect", () => process.exit(0));
process.on("message", (message) => {
  if (message.type === "load") {
    circuits.set(message.circuitId, { zkey: message.zkey, wasm: message.wasm });
  } else if (message.type === "prove") {
    prove(message);
  } else if (message.type === "close") {
    circuits.clear();
    const curve = globalThis.curve_bn128;
    Promise.resolve(curve?.terminate?.()).finally(() => process.exit(0));
  }
});
