/**
 * @module test/helpers/circuits
 *
 * Small circuit shapes used by the tests (kept tiny so CI stays fast) and a cached loader that compiles a
 * shape through the project's compile cache and returns the witness-level harness of ./r1cs.ts.
 */
import { ensureMainFile } from "../../src/circuits/main-files.ts";
import { type AggregateShape, makeShape } from "../../src/circuits/shape.ts";
import { compileCircuit } from "../../src/setup/compile.ts";
import { type LoadedCircuit, loadCircuit } from "./r1cs.ts";

/** 8 slots of 4 fields x 16 bits, 3 clause slots of 3 constants, 2 records per leaf, binary tree. */
export const TEST_SHAPE: AggregateShape = makeShape({
  capacity: 8,
  fields: 4,
  width: 16,
  clauses: 3,
  setSize: 3,
  leafRecords: 2,
  arity: 2,
});

const loaded = new Map<string, Promise<LoadedCircuit>>();

export function loadShape(shape: AggregateShape): Promise<LoadedCircuit> {
  const key = JSON.stringify(shape);
  let circuit = loaded.get(key);
  if (!circuit) {
    circuit = ensureMainFile(shape).then(async (main) => loadCircuit(await compileCircuit(main)));
    loaded.set(key, circuit);
  }
  return circuit;
}
