/**
 * Witness-level tests of circuits/lib/aggregate.circom against its TypeScript twins: random (dataset, query)
 * pairs must satisfy every constraint and output exactly the reference evaluator's answer, and every
 * soundness attack of the security checklist (an edited honest witness) must violate a constraint.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { aggregateCircuitInput, expectedOutputs } from "../src/circuits/aggregate-witness.ts";
import { type AggregatePublicInputs, aggregatePublicSignals } from "../src/circuits/public-signals.ts";
import { publicSignalNames } from "../src/circuits/shape.ts";
import { commitDataset, packRecord } from "../src/dataset/commitment.ts";
import type { Schema } from "../src/dataset/schema.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { loadShape, TEST_SHAPE } from "./helpers/circuits.ts";
import { edit, firstViolation, type LoadedCircuit, P, satisfies, wire } from "./helpers/r1cs.ts";
import { createRng, randomQuery, randomRecords, randomSchema } from "./helpers/random.ts";

const shape = TEST_SHAPE;
const secret = new Uint8Array(32).fill(7);
let circuit: LoadedCircuit;

beforeAll(async () => {
  circuit = await loadShape(shape);
});

interface Statement {
  inputs: AggregatePublicInputs;
  witness: bigint[];
  expected: { suppressed: bigint; answer: bigint };
}

async function statement(
  schema: Schema,
  records: bigint[][],
  query: Query,
  minGroupSize = 0,
  nonce = 12345n,
): Promise<Statement> {
  const commitment = await commitDataset({ layout: shape, records, secret, datasetId: "test", epoch: 1 });
  const inputs: AggregatePublicInputs = {
    root: commitment.root,
    recordCount: records.length,
    minGroupSize,
    nonce,
    query: encodeQueryPublic(query, schema, shape),
  };
  const witness = await circuit.witness(aggregateCircuitInput(shape, commitment.slots, inputs));
  return { inputs, witness, expected: expectedOutputs(shape, commitment.slots, inputs) };
}

/** The public signals as read from a witness (wires 1 .. nPublic). */
function publicOf(w: readonly bigint[]): string[] {
  return w.slice(1, 1 + circuit.nPublic).map(String);
}

const demoSchema: Schema = {
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: ["DE", "FR", "JP", "US"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
  ],
  key: "userId",
};
const demoRecords = [
  [101n, 1n, 120n, 0n],
  [102n, 1n, 5n, 0n],
  [103n, 0n, 300n, 1n],
  [104n, 3n, 65535n, 0n],
  [105n, 1n, 99n, 0n],
];
const countFr: Query = {
  predicate: [
    { field: "country", op: "eq", value: "FR" },
    { field: "edits", op: "gte", value: 50 },
  ],
  aggregate: { kind: "count" },
};

describe("aggregate circuit: honest witnesses", () => {
  it("lays out public signals as documented", () => {
    expect(circuit.nPublic).toBe(publicSignalNames(shape).length);
    expect(wire(circuit, "suppressed")).toBe(1);
    expect(wire(circuit, "answer")).toBe(2);
    expect(wire(circuit, "root")).toBe(3);
    expect(wire(circuit, `clauses[${shape.clauses - 1}]`)).toBe(circuit.nPublic);
  });

  it("recomputes the TypeScript root and proves a known count", async () => {
    const s = await statement(demoSchema, demoRecords, countFr);
    expect(satisfies(circuit, s.witness)).toBe(true);
    expect(publicOf(s.witness)).toEqual(aggregatePublicSignals(s.inputs, { suppressed: 0n, answer: 2n }));
  });

  it("agrees with the reference evaluator on 200 random datasets and queries", async () => {
    const rng = createRng(20261128);
    const kinds = { count: 0, sum: 0, threshold: 0, membership: 0, suppressed: 0 };
    for (let run = 0; run < 200; run++) {
      const schema = randomSchema(rng, { maxFields: shape.fields, maxWidth: shape.width });
      const records = randomRecords(rng, schema, rng.int(0, shape.capacity));
      const query = randomQuery(rng, schema, {
        maxClauses: shape.clauses,
        maxSet: shape.setSize,
        records,
        maxK: BigInt(shape.capacity + 2),
      });
      const drawn = rng.bool(0.3) ? rng.int(1, 4) : 0;
      // Membership is refused under g = 1 (query/lower.ts assertMembershipGroupSize); same draws either way.
      const minGroupSize = query.aggregate.kind === "membership" && drawn === 1 ? 2 : drawn;
      const s = await statement(schema, records, query, minGroupSize, rng.bigint(0n, P - 1n));
      const reference = evaluateQuery(query, schema, records, { minGroupSize });
      const answer = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
      const context = `seed ${rng.seed} run ${run}: ${JSON.stringify(query, (_, v) => (typeof v === "bigint" ? String(v) : v))}`;
      expect(satisfies(circuit, s.witness), context).toBe(true);
      expect(publicOf(s.witness), context).toEqual(
        aggregatePublicSignals(s.inputs, { suppressed: reference.suppressed ? 1n : 0n, answer }),
      );
      expect(s.expected, context).toEqual({ suppressed: reference.suppressed ? 1n : 0n, answer });
      kinds[reference.kind]++;
      if (reference.suppressed) kinds.suppressed++;
    }
    for (const n of Object.values(kinds)) expect(n).toBeGreaterThan(5);
  });

  it("proves suppression below the minimum group size, including the complement", async () => {
    const small = await statement(demoSchema, demoRecords, countFr, 3);
    expect(publicOf(small.witness).slice(0, 2)).toEqual(["1", "0"]);
    const everyone: Query = { predicate: [], aggregate: { kind: "count" } };
    const complement = await statement(demoSchema, demoRecords, everyone, 1);
    expect(publicOf(complement.witness).slice(0, 2)).toEqual(["1", "0"]); // N - count = 0 < 1
    const fine = await statement(demoSchema, demoRecords, countFr, 2);
    expect(publicOf(fine.witness).slice(0, 2)).toEqual(["0", "2"]);
  });
});

describe("aggregate circuit: edited witnesses violate constraints", () => {
  let honest: Statement;
  beforeAll(async () => {
    honest = await statement(
      demoSchema,
      demoRecords,
      {
        predicate: [{ field: "edits", op: "between", value: [50, 400] }],
        aggregate: { kind: "sum", field: "edits" },
      },
      0,
    );
    expect(satisfies(circuit, honest.witness)).toBe(true);
  });

  const violates = (changes: Record<number, bigint>) =>
    expect(satisfies(circuit, edit(honest.witness, changes))).toBe(false);

  it("+1 on any single wire breaks a constraint (every signal is determined)", () => {
    let checked = 0;
    for (let index = 1; index < circuit.nWires; index++) {
      const touched = circuit.byWire.get(index);
      if (!touched) continue; // wires the optimiser left unconstrained would show up in the count below
      const w = edit(honest.witness, { [index]: (honest.witness[index] as bigint) + 1n });
      expect(firstViolation(circuit.constraints, w, touched), `wire ${index}`).not.toBe(-1);
      checked++;
    }
    // every wire except the constant appears in some constraint
    expect(checked).toBe(circuit.nWires - 1);
  });

  it("a claimed answer or suppression flag other than the true one fails", () => {
    const answer = wire(circuit, "answer");
    violates({ [answer]: (honest.witness[answer] as bigint) + 1n });
    violates({ [answer]: 0n });
    violates({ [wire(circuit, "suppressed")]: 1n });
  });

  it("rejects out-of-range record values (2^W + 5, p - 1, 2^252) even with recomputed bits", () => {
    const v = wire(circuit, "values[2][2]");
    for (const bad of [(1n << BigInt(shape.width)) + 5n, P - 1n, P - 254n, 1n << 252n])
      violates({ [v]: bad });
  });

  it("rejects non-boolean and non-monotone flags (padding counted, record hidden as padding)", () => {
    const flag = (i: number) => wire(circuit, `flags[${i}]`);
    violates({ [flag(0)]: 2n });
    violates({ [flag(0)]: P - 1n });
    violates({ [flag(demoRecords.length)]: 1n }); // a padding slot counted as real
    violates({ [flag(demoRecords.length - 1)]: 0n }); // a real record hidden as padding
    violates({ [wire(circuit, "recordCount")]: BigInt(demoRecords.length + 1) });
  });

  it("rejects the same record counted twice and sums that wrap", () => {
    const answer = wire(circuit, "answer");
    const twice = (honest.witness[answer] as bigint) + demoRecords[0]![2]!;
    violates({ [answer]: twice });
    violates({ [wire(circuit, "values[0][2]")]: P - 1n }); // a "-1" value to pull the sum down
  });

  it("rejects changed public inputs: root, nonce, clause and aggregate elements, group size", () => {
    for (const name of ["root", "nonce", "aggregate", "clauses[0]", "clauses[2]", "minGroupSize"]) {
      const index = wire(circuit, name);
      violates({ [index]: (honest.witness[index] as bigint) + 1n });
    }
    // non-canonical encodings of the same element (+ r) are different field elements only below r
    const clause = wire(circuit, "clauses[0]");
    violates({ [clause]: (honest.witness[clause] as bigint) + (1n << 248n) });
  });

  it("rejects selectors and clause bits that are not 0/1 (field index out of range, isSet = 2)", () => {
    const selector = circuit.signals.get("main.clause[0].field.selectors[0]");
    if (selector !== undefined) violates({ [selector]: 2n });
    const isSet =
      circuit.signals.get("main.clause[0].isSet") ?? circuit.signals.get("main.clause[0].bits.out[8]");
    expect(isSet).toBeDefined();
    violates({ [isSet as number]: 2n });
    violates({ [isSet as number]: P - 1n });
  });
});

describe("record packing (known answers)", () => {
  it("packs 8 x 32-bit values and the flag into two elements without splitting a value", () => {
    const values = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n];
    const [e0, e1] = packRecord(values, 1n, 32);
    expect(e0).toBe(values.slice(0, 7).reduce((acc, v, i) => acc + (v << BigInt(32 * i)), 0n));
    expect(e1).toBe(8n + (1n << 32n));
  });

  it("gives different leaves for swapped, re-split or zero-padded records", () => {
    const a = packRecord([1n, 2n, 0n], 1n, 16);
    const swapped = packRecord([2n, 1n, 0n], 1n, 16);
    const padded = packRecord([1n, 2n, 0n, 0n], 1n, 16);
    expect(a).not.toEqual(swapped);
    expect(padded[0]).not.toBe(a[0]); // the flag moves with the field count
    expect(() => packRecord([1n << 16n], 1n, 16)).toThrow(RangeError);
  });
});
