/**
 * @module test/helpers/r1cs
 *
 * Witness-level circuit testing: computes a full witness with the circuit's WASM, reads the R1CS and the
 * symbol file, and checks A·w * B·w = C·w for every constraint. Negative tests edit an honest witness and
 * expect `check` to report a violated constraint — the witness generator's own asserts are not relied on,
 * since a malicious prover writes its own.
 */
import { readFile } from "node:fs/promises";
import { WitnessCalculatorBuilder } from "circom_runtime";

export const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

type LinearCombination = [wire: number, coefficient: bigint][];
export type Constraint = [LinearCombination, LinearCombination, LinearCombination];

export interface LoadedCircuit {
  readonly constraints: Constraint[];
  readonly nWires: number;
  readonly nPublic: number;
  /** Signal name (e.g. `main.values[0][1]`) -> witness index; only signals kept by the optimiser. */
  readonly signals: Map<string, number>;
  /** Constraint indices that mention each wire. */
  readonly byWire: Map<number, number[]>;
  witness(input: Record<string, unknown>): Promise<bigint[]>;
  /**
   * A malicious prover's witness: every signal computed from `input` as the generator computes it, but the
   * generator's own `===` asserts ignored, so only the R1CS decides (see `satisfies`).
   */
  forgedWitness(input: Record<string, unknown>): Promise<bigint[]>;
}

function readLinearCombination(
  view: DataView,
  bytes: Uint8Array,
  offset: number,
): [LinearCombination, number] {
  const terms = view.getUint32(offset, true);
  let at = offset + 4;
  const lc: LinearCombination = [];
  for (let t = 0; t < terms; t++) {
    const wire = view.getUint32(at, true);
    let value = 0n;
    for (let b = 31; b >= 0; b--) value = (value << 8n) | BigInt(bytes[at + 4 + b] as number);
    lc.push([wire, value]);
    at += 36;
  }
  return [lc, at];
}

/** Parses an .r1cs file (format of iden3/r1csfile; 32-byte field elements). */
export function parseR1cs(bytes: Uint8Array): { constraints: Constraint[]; nWires: number; nPublic: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sections = view.getUint32(8, true);
  let at = 12;
  let header: { nWires: number; nPublic: number; nConstraints: number } | undefined;
  let constraintsAt = -1;
  for (let s = 0; s < sections; s++) {
    const type = view.getUint32(at, true);
    const size = Number(view.getBigUint64(at + 4, true));
    const body = at + 12;
    if (type === 1) {
      const fieldSize = view.getUint32(body, true);
      const h = body + 4 + fieldSize;
      const nWires = view.getUint32(h, true);
      const nOutputs = view.getUint32(h + 4, true);
      const nPubInputs = view.getUint32(h + 8, true);
      const nConstraints = view.getUint32(h + 24, true);
      header = { nWires, nPublic: nOutputs + nPubInputs, nConstraints };
    } else if (type === 2) {
      constraintsAt = body;
    }
    at = body + size;
  }
  if (!header || constraintsAt < 0) throw new Error("r1cs: missing header or constraints section");
  const constraints: Constraint[] = [];
  let offset = constraintsAt;
  for (let c = 0; c < header.nConstraints; c++) {
    const [a, afterA] = readLinearCombination(view, bytes, offset);
    const [b, afterB] = readLinearCombination(view, bytes, afterA);
    const [cc, afterC] = readLinearCombination(view, bytes, afterB);
    constraints.push([a, b, cc]);
    offset = afterC;
  }
  return { constraints, nWires: header.nWires, nPublic: header.nPublic };
}

function evaluate(lc: LinearCombination, w: readonly bigint[]): bigint {
  let acc = 0n;
  for (const [wire, coefficient] of lc) acc += coefficient * (w[wire] as bigint);
  return acc % P;
}

/** Index of the first violated constraint among `indices` (all when omitted), or -1. */
export function firstViolation(
  constraints: Constraint[],
  w: readonly bigint[],
  indices?: Iterable<number>,
): number {
  const list = indices ?? constraints.keys();
  for (const index of list) {
    const [a, b, c] = constraints[index] as Constraint;
    if ((evaluate(a, w) * evaluate(b, w) - evaluate(c, w)) % P !== 0n) return index;
  }
  return -1;
}

export async function loadCircuit(paths: {
  r1csPath: string;
  wasmPath: string;
  symPath: string;
}): Promise<LoadedCircuit> {
  const { constraints, nWires, nPublic } = parseR1cs(new Uint8Array(await readFile(paths.r1csPath)));
  const signals = new Map<string, number>();
  for (const line of (await readFile(paths.symPath, "utf8")).split("\n")) {
    const [, witnessIndex, , name] = line.split(",");
    if (name && witnessIndex !== undefined && Number(witnessIndex) >= 0)
      signals.set(name, Number(witnessIndex));
  }
  const byWire = new Map<number, number[]>();
  constraints.forEach(([a, b, c], index) => {
    for (const [wire] of [...a, ...b, ...c]) {
      const list = byWire.get(wire);
      if (list) list.push(index);
      else byWire.set(wire, [index]);
    }
  });
  const wasm = await readFile(paths.wasmPath);
  const calculator = await WitnessCalculatorBuilder(wasm);
  const forging = await WitnessCalculatorBuilder(await instantiateIgnoringAsserts(wasm));
  return {
    constraints,
    nWires,
    nPublic,
    signals,
    byWire,
    async witness(input) {
      return (await calculator.calculateWitness(input, true)).map((x: bigint | number) => BigInt(x));
    },
    async forgedWitness(input) {
      return (await forging.calculateWitness(input, false)).map((x: bigint | number) => BigInt(x));
    },
  };
}

/** Code circom's runtime passes to `exceptionHandler` for a failed `===` assert. */
const ASSERT_FAILED = 4;

/**
 * Instantiates a circom 2 witness generator whose failed asserts are ignored (the generated code carries on
 * after the handler returns), with the same imports circom_runtime provides otherwise (messages dropped).
 */
async function instantiateIgnoringAsserts(wasm: Uint8Array): Promise<WebAssembly.Instance> {
  const memory = new WebAssembly.Memory({ initial: 32767 });
  const noop = () => {};
  const { instance } = await WebAssembly.instantiate(wasm as BufferSource, {
    env: { memory },
    runtime: {
      exceptionHandler(code: number) {
        if (code !== ASSERT_FAILED) throw new Error(`witness generator error ${code}`);
      },
      printErrorMessage: noop,
      writeBufferMessage: noop,
      showSharedRWMemory: noop,
      printDebug: noop,
      log: noop,
      logGetSignal: noop,
      logSetSignal: noop,
      logStartComponent: noop,
      logFinishComponent: noop,
      error(code: number) {
        throw new Error(`witness generator error ${code}`);
      },
    },
  });
  return instance;
}

/** Witness index of a named signal; throws when the optimiser removed it (the test must pick another). */
export function wire(circuit: LoadedCircuit, name: string): number {
  const index = circuit.signals.get(name.startsWith("main.") ? name : `main.${name}`);
  if (index === undefined) throw new Error(`signal ${name} not in the witness (removed by the optimiser?)`);
  return index;
}

/** Copy of `w` with the given wires set to new values (mod p). */
export function edit(w: readonly bigint[], changes: Record<number, bigint>): bigint[] {
  const copy = [...w];
  for (const [index, value] of Object.entries(changes)) copy[Number(index)] = ((value % P) + P) % P;
  return copy;
}

/** Whether the edited witness still satisfies every constraint that touches an edited wire (and all others). */
export function satisfies(circuit: LoadedCircuit, w: readonly bigint[]): boolean {
  return firstViolation(circuit.constraints, w) === -1;
}
