/**
 * Witness-level tests of circuits/lib/chunk.circom (ChunkStep) with its TypeScript twin
 * (src/circuits/chunk-witness.ts) and the chain checks of src/circuits/chunk-statement.ts: random chains of
 * 4+ chunks must satisfy every constraint and close (with ChunkFinal) on exactly the reference evaluator's
 * answer, and every soundness attack must break a constraint or the verifier's chain check.
 *
 * Attack witnesses are built the way a malicious prover would: with the generator's own asserts off and the
 * dataset root and accumulators recomputed for the forged records, so only the soundness constraints stand
 * between the attacker and a proof.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ChunkShape,
  chunkPublicSignalNames,
  chunkQueryShape,
  finalShapeOf,
  makeChunkShape,
} from "../src/circuits/chunk-shape.ts";
import {
  type ChainStatement,
  checkChainSignals,
  INITIAL_ACC_COMMITMENT,
} from "../src/circuits/chunk-statement.ts";
import {
  accumulatorCommitment,
  type ChainPlan,
  type ChunkStepCircuitInput,
  INITIAL_OPENING,
  nextAccumulator,
  planChain,
} from "../src/circuits/chunk-witness.ts";
import { type ChunkedCommitment, commitChunks } from "../src/dataset/chunk-commit.ts";
import {
  chunkRootOf,
  datasetTree,
  domainFromToken,
  type FieldDomain,
  LEAF_ELEMENT_BITS,
  subtreeRoot,
  TAG_LEAF2,
} from "../src/dataset/chunk-layout.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { parseSchema, type Schema } from "../src/dataset/schema.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { encodeQueryPublic, type QueryPublicElements } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { CHUNK_TEST_SCHEMA, CHUNK_TEST_SHAPE, loadChunkShape, loadFinalShape } from "./helpers/circuits.ts";
import { edit, firstViolation, type LoadedCircuit, P, satisfies, wire } from "./helpers/r1cs.ts";
import { createRng, randomQuery, randomRecords } from "./helpers/random.ts";

const schema = CHUNK_TEST_SCHEMA;
const shape = CHUNK_TEST_SHAPE;
const S = shape.layout.chunkSize;
const secret = new Uint8Array(32).fill(9);
let poseidon: PoseidonEx;
let chunkCircuit: LoadedCircuit;
let finalCircuit: LoadedCircuit;

beforeAll(async () => {
  poseidon = await getPoseidon();
  chunkCircuit = await loadChunkShape(shape);
  finalCircuit = await loadFinalShape(finalShapeOf(shape));
}, 600_000);

interface Chain {
  committed: ChunkedCommitment;
  query: QueryPublicElements;
  plan: ChainPlan;
  chunkWitnesses: bigint[][];
  finalWitness: bigint[];
  statement: ChainStatement;
}

function publicOf(circuit: LoadedCircuit, w: readonly bigint[]): string[] {
  return w.slice(1, 1 + circuit.nPublic).map(String);
}

function sortedByKey(records: bigint[][], keyField: number | undefined): bigint[][] {
  if (keyField === undefined) return records;
  return [...records].sort((a, b) => ((a[keyField] as bigint) < (b[keyField] as bigint) ? -1 : 1));
}

async function buildChain(
  chunkShape: ChunkShape,
  querySchema: Schema,
  records: bigint[][],
  query: Query,
  options: { minGroupSize?: number; nonce?: bigint; circuit?: LoadedCircuit; final?: LoadedCircuit } = {},
): Promise<Chain> {
  const committed = commitChunks(poseidon, {
    layout: chunkShape.layout,
    domains: chunkShape.domains,
    keyField: chunkShape.keyField,
    records,
    secret,
    datasetId: "test",
    epoch: 1,
  });
  const encoded = encodeQueryPublic(query, querySchema, chunkQueryShape(chunkShape));
  const nonce = options.nonce ?? 777n;
  const minGroupSize = options.minGroupSize ?? 0;
  const plan = planChain(poseidon, chunkShape, committed, { nonce, query: encoded, minGroupSize });
  const circuit = options.circuit ?? chunkCircuit;
  const chunkWitnesses: bigint[][] = [];
  for (const chunk of plan.chunks) chunkWitnesses.push(await circuit.witness(chunk.input));
  const finalWitness = await (options.final ?? finalCircuit).witness(plan.final.input);
  const statement: ChainStatement = {
    root: committed.root,
    recordCount: committed.recordCount,
    chunkSize: chunkShape.layout.chunkSize,
    chunkCount: committed.chunkCount,
    minGroupSize,
    nonce,
    query: encoded,
    outputs: plan.outputs,
  };
  return { committed, query: encoded, plan, chunkWitnesses, finalWitness, statement };
}

function chainSignals(chain: Chain, circuit = chunkCircuit, final = finalCircuit) {
  return {
    chunks: chain.chunkWitnesses.map((w) => publicOf(circuit, w)),
    final: publicOf(final, chain.finalWitness),
  };
}

// --- Attacker's tools: packing and roots without domain checks (the circuit's linear packing) -----------

function forgedLeafElements(
  domains: readonly FieldDomain[],
  records: readonly (readonly bigint[])[],
): bigint[] {
  const elements: bigint[] = [0n];
  let used = 0;
  for (const record of records) {
    domains.forEach(({ bits }, field) => {
      if (bits === 0) return;
      if (used + bits > LEAF_ELEMENT_BITS) {
        elements.push(0n);
        used = 0;
      }
      const value = (((record[field] as bigint) % P) + P) % P;
      elements[elements.length - 1] = ((elements.at(-1) as bigint) + value * (1n << BigInt(used))) % P;
      used += bits;
    });
  }
  return elements;
}

/** The root the circuit computes for edited chunk values (other chunks as committed). */
function forgedRoot(
  chunkShape: ChunkShape,
  committed: ChunkedCommitment,
  chunkIndex: number,
  values: readonly (readonly bigint[])[],
): { root: bigint; path: bigint[][] } {
  const { leafRecords } = chunkShape.layout;
  const salts = committed.chunks[chunkIndex]?.salts as readonly bigint[];
  const leaves = salts.map((salt, j) =>
    poseidon(
      [salt, ...forgedLeafElements(chunkShape.domains, values.slice(j * leafRecords, (j + 1) * leafRecords))],
      TAG_LEAF2,
    ),
  );
  const roots = committed.chunks.map((chunk) => chunk.chunkRoot);
  roots[chunkIndex] = chunkRootOf(poseidon, chunkIndex, subtreeRoot(poseidon, leaves));
  const tree = datasetTree(poseidon, roots, chunkShape.layout.treeDepth);
  return { root: tree.root, path: tree.path(chunkIndex) };
}

/** A chunk input with edited values/flags, its root and path recomputed so the commitment still matches. */
function forgedChunkInput(
  chunkShape: ChunkShape,
  chain: Chain,
  chunkIndex: number,
  change: (values: bigint[][], flags: bigint[]) => void,
): ChunkStepCircuitInput {
  const input = structuredClone(chain.plan.chunks[chunkIndex]?.input) as ChunkStepCircuitInput;
  const values = input.values.map((record) => record.map(BigInt));
  const flags = input.flags.map(BigInt);
  change(values, flags);
  const { root, path } = forgedRoot(chunkShape, chain.committed, chunkIndex, values);
  return {
    ...input,
    values: values.map((record) => record.map(String)),
    flags: flags.map(String),
    root: root.toString(),
    path: path.map((level) => level.map(String)),
  };
}

/** Whether a malicious prover's witness for `input` (generator asserts ignored) satisfies every constraint. */
async function forgeable(circuit: LoadedCircuit, input: Record<string, unknown>): Promise<boolean> {
  return satisfies(circuit, await circuit.forgedWitness(input));
}

const records50 = (() => {
  const rng = createRng(4242);
  return sortedByKey(randomRecords(rng, schema, 50), shape.keyField);
})();
const sumEdits: Query = {
  predicate: [{ field: "edits", op: "gte", value: 10 }],
  aggregate: { kind: "sum", field: "edits" },
};

describe("chunk circuit: layout and honest chains", () => {
  it("lays out public signals as documented", () => {
    const names = chunkPublicSignalNames(shape);
    expect(chunkCircuit.nPublic).toBe(names.length);
    names.forEach((name, index) => {
      expect(wire(chunkCircuit, name), name).toBe(index + 1);
    });
  });

  it("starts from the published initial accumulator", () => {
    expect(accumulatorCommitment(poseidon, INITIAL_OPENING).toString()).toBe(INITIAL_ACC_COMMITMENT);
  });

  it("agrees with the reference evaluator on random chains of 4+ chunks", async () => {
    const rng = createRng(20261201);
    const kinds = { count: 0, sum: 0, threshold: 0, membership: 0, suppressed: 0 };
    let longChains = 0;
    for (let run = 0; run < 32; run++) {
      const size = rng.bool(0.8) ? rng.int(3 * S + 1, 5 * S) : rng.pick([0, 1, S, 2 * S]);
      const records = sortedByKey(randomRecords(rng, schema, size), shape.keyField);
      const query = randomQuery(rng, schema, {
        maxClauses: shape.clauses,
        maxSet: shape.setSize,
        records,
        maxK: BigInt(size + 2),
      });
      const drawn = rng.bool(0.3) ? rng.int(1, 6) : 0;
      // Membership is refused under g = 1 (query/lower.ts assertMembershipGroupSize); same draws either way.
      const minGroupSize = query.aggregate.kind === "membership" && drawn === 1 ? 2 : drawn;
      const chain = await buildChain(shape, schema, records, query, {
        minGroupSize,
        nonce: rng.bigint(0n, P - 1n),
      });
      const context = `seed ${rng.seed} run ${run}: ${JSON.stringify(query, (_, v) => (typeof v === "bigint" ? String(v) : v))}`;
      chain.chunkWitnesses.forEach((w, i) => {
        expect(satisfies(chunkCircuit, w), `${context} chunk ${i}`).toBe(true);
        expect(publicOf(chunkCircuit, w), `${context} chunk ${i}`).toEqual(
          chain.plan.chunks[i]?.publicSignals,
        );
      });
      expect(satisfies(finalCircuit, chain.finalWitness), context).toBe(true);
      expect(publicOf(finalCircuit, chain.finalWitness), context).toEqual(chain.plan.final.publicSignals);
      const reference = evaluateQuery(query, schema, records, { minGroupSize });
      const answer = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
      expect(chain.plan.outputs, context).toEqual({ suppressed: reference.suppressed ? 1n : 0n, answer });
      const signals = chainSignals(chain);
      expect(checkChainSignals(chain.statement, signals.chunks, signals.final), context).toEqual({
        ok: true,
      });
      if (chain.committed.chunkCount >= 4) longChains++;
      kinds[reference.kind]++;
      if (reference.suppressed) kinds.suppressed++;
    }
    expect(longChains).toBeGreaterThanOrEqual(10);
    for (const n of Object.values(kinds)) expect(n).toBeGreaterThan(1);
  }, 600_000);

  it("hides partial results: accumulators change with the blinds, the final answer does not", async () => {
    const a = await buildChain(shape, schema, records50, sumEdits);
    const b = await buildChain(shape, schema, records50, sumEdits);
    for (let i = 0; i < a.plan.chunks.length; i++) {
      expect(a.plan.chunks[i]?.publicSignals[0]).not.toBe(b.plan.chunks[i]?.publicSignals[0]);
    }
    expect(a.plan.final.publicSignals.slice(0, -1)).toEqual(b.plan.final.publicSignals.slice(0, -1));
  });
});

describe("chunk circuit: edited witnesses and chains are rejected", () => {
  let honest: Chain;
  beforeAll(async () => {
    honest = await buildChain(shape, schema, records50, sumEdits);
    expect(honest.committed.chunkCount).toBe(4); // 16 + 16 + 16 + 2 records
  });
  const last = 3;
  const real = 50 - 3 * S; // real records in the last chunk
  const chunkWire = (name: string) => wire(chunkCircuit, name);
  const violates = (chunk: number, changes: Record<number, bigint>) =>
    expect(satisfies(chunkCircuit, edit(honest.chunkWitnesses[chunk] as bigint[], changes))).toBe(false);

  it("+1 on any single wire breaks a constraint (every signal is determined)", () => {
    for (const chunk of [1, last]) {
      const w = honest.chunkWitnesses[chunk] as bigint[];
      let checked = 0;
      for (let index = 1; index < chunkCircuit.nWires; index++) {
        const touched = chunkCircuit.byWire.get(index);
        if (!touched) continue;
        const edited = edit(w, { [index]: (w[index] as bigint) + 1n });
        expect(
          firstViolation(chunkCircuit.constraints, edited, touched),
          `chunk ${chunk} wire ${index}`,
        ).not.toBe(-1);
        checked++;
      }
      expect(checked).toBe(chunkCircuit.nWires - 1);
    }
  });

  it("the forging harness reproduces honest witnesses (so the failures below are the soundness rules)", async () => {
    const input = forgedChunkInput(shape, honest, 1, () => {});
    expect(input.root).toBe(honest.committed.root.toString());
    expect(await forgeable(chunkCircuit, input)).toBe(true);
    // The generator's own asserts would stop a bool of 2; the forging calculator carries on past them.
    const bad = forgedChunkInput(shape, honest, 1, (values) => {
      (values[0] as bigint[])[3] = 2n;
    });
    await expect(chunkCircuit.witness(bad)).rejects.toThrow(/Assert Failed/);
    expect((await chunkCircuit.forgedWitness(bad)).length).toBe(chunkCircuit.nWires);
  });

  it("rejects an accumulator opened to another value", async () => {
    violates(1, {
      [chunkWire("countIn")]: (honest.chunkWitnesses[1]?.[chunkWire("countIn")] as bigint) + 1n,
    });
    violates(1, { [chunkWire("sumIn")]: 0n });
    violates(1, { [chunkWire("realSeenIn")]: 0n });
    violates(1, { [chunkWire("accOut")]: 5n });
    // Chunk 0 must start from the zero state, even with a matching commitment for another one.
    const input = structuredClone(honest.plan.chunks[0]?.input) as ChunkStepCircuitInput;
    const head = { state: { realSeen: 0n, keyFloor: 0n, count: 3n, sum: 300n, max: 100n }, blind: 5n };
    const forged = {
      ...input,
      countIn: "3",
      sumIn: "300",
      maxIn: "100",
      blindIn: "5",
      accIn: accumulatorCommitment(poseidon, head).toString(),
    };
    expect(await forgeable(chunkCircuit, forged)).toBe(false);
  });

  it("rejects a broken or forked chain at the verifier's chain check", async () => {
    const signals = chainSignals(honest);
    // Fork: chunk 1 proven again with another blind, chunk 2 continuing from the fork.
    const chunk1 = honest.plan.chunks[1]?.input as ChunkStepCircuitInput;
    const fork = await chunkCircuit.witness({ ...chunk1, blindOut: "99" });
    expect(satisfies(chunkCircuit, fork)).toBe(true);
    const forkOut = publicOf(chunkCircuit, fork)[0] as string;
    const chunk2 = honest.plan.chunks[2]?.input as ChunkStepCircuitInput;
    const afterFork = await chunkCircuit.witness({ ...chunk2, accIn: forkOut, blindIn: "99" });
    expect(satisfies(chunkCircuit, afterFork)).toBe(true);
    const forked = [...signals.chunks];
    forked[2] = publicOf(chunkCircuit, afterFork);
    expect(checkChainSignals(honest.statement, forked, signals.final)).toMatchObject({ ok: false, at: 2 });
    // Final step closing a different accumulator than the last chunk's.
    const final = [...signals.final];
    final[final.length - 1] = forkOut;
    expect(checkChainSignals(honest.statement, signals.chunks, final)).toMatchObject({
      ok: false,
      at: "final",
    });
  });

  it("rejects chunks omitted, repeated, reordered or from another dataset, epoch, query or request", async () => {
    const { chunks, final } = chainSignals(honest);
    const check = (list: string[][]) => checkChainSignals(honest.statement, list, final);
    expect(check(chunks.filter((_, i) => i !== 1))).toMatchObject({ ok: false, at: 1 }); // omitted
    expect(check([chunks[0], chunks[1], chunks[1], chunks[2], chunks[3]] as string[][])).toMatchObject({
      ok: false,
      at: 2,
    });
    expect(check([chunks[0], chunks[2], chunks[1], chunks[3]] as string[][])).toMatchObject({
      ok: false,
      at: 1,
    });
    expect(check(chunks.slice(0, 3))).toMatchObject({ ok: false, at: 3 });
    // Another epoch (other salts, so another root) proven with the same records and query.
    const otherEpoch = commitChunks(poseidon, {
      layout: shape.layout,
      domains: shape.domains,
      keyField: shape.keyField,
      records: records50,
      secret,
      datasetId: "test",
      epoch: 2,
    });
    expect(otherEpoch.root).not.toBe(honest.committed.root);
    const foreign = planChain(poseidon, shape, otherEpoch, {
      nonce: 777n,
      query: honest.query,
      minGroupSize: 0,
    });
    const foreignChunk = publicOf(chunkCircuit, await chunkCircuit.witness(foreign.chunks[2]?.input ?? {}));
    expect(check([chunks[0], chunks[1], foreignChunk, chunks[3]] as string[][])).toMatchObject({
      ok: false,
      at: 2,
    });
    // The same chunk proven for another nonce or another query (valid proofs of other statements).
    const input2 = honest.plan.chunks[2]?.input as ChunkStepCircuitInput;
    const otherNonce = await chunkCircuit.witness({ ...input2, nonce: "778" });
    expect(satisfies(chunkCircuit, otherNonce)).toBe(true);
    const nonceChunk = publicOf(chunkCircuit, otherNonce);
    expect(check([chunks[0], chunks[1], nonceChunk, chunks[3]] as string[][])).toMatchObject({
      ok: false,
      at: 2,
    });
    const count = encodeQueryPublic(
      { predicate: [], aggregate: { kind: "count" } },
      schema,
      chunkQueryShape(shape),
    );
    const otherQuery = await chunkCircuit.witness({
      ...input2,
      aggregate: count.aggregate.toString(),
      clauses: count.clauses.map(String),
    });
    expect(satisfies(chunkCircuit, otherQuery)).toBe(true);
    const queryChunk = publicOf(chunkCircuit, otherQuery);
    expect(check([chunks[0], chunks[1], queryChunk, chunks[3]] as string[][])).toMatchObject({
      ok: false,
      at: 2,
    });
    // What binds them: each one is a public signal of its own proof (edited alone, the proof fails).
    for (const name of ["root", "chunkIndex", "nonce", "aggregate", "clauses[0]", "accIn"]) {
      violates(2, { [chunkWire(name)]: (honest.chunkWitnesses[2]?.[chunkWire(name)] as bigint) + 1n });
    }
  });

  it("rejects a padding slot counted and a real record hidden as padding", async () => {
    const flag = (i: number) => chunkWire(`flags[${i}]`);
    violates(last, { [flag(real)]: 1n });
    violates(last, { [flag(real - 1)]: 0n });
    violates(last, { [flag(0)]: 2n });
    expect(
      await forgeable(
        chunkCircuit,
        forgedChunkInput(shape, honest, last, (_, flags) => {
          flags[real] = 1n;
        }),
      ),
    ).toBe(false);
    expect(
      await forgeable(
        chunkCircuit,
        forgedChunkInput(shape, honest, last, (_, flags) => {
          flags[real - 1] = 0n;
        }),
      ),
    ).toBe(false);
    expect(
      await forgeable(
        chunkCircuit,
        forgedChunkInput(shape, honest, 1, (_, flags) => {
          flags[S - 1] = 0n;
        }),
      ),
    ).toBe(false);
  });

  it("rejects values outside the signed schema: bool of 2, enum index past the end, 60000 in a uint8", async () => {
    const forge = (field: number, value: bigint, slot = 3) =>
      forgeable(
        chunkCircuit,
        forgedChunkInput(shape, honest, 1, (values) => {
          (values[slot] as bigint[])[field] = value;
        }),
      );
    expect(await forge(3, 2n)).toBe(false); // bot = 2
    expect(await forge(3, P - 1n)).toBe(false);
    expect(await forge(1, 6n)).toBe(false); // country index 6 of 6 values (fits 3 bits)
    expect(await forge(1, 7n)).toBe(false);
    expect(await forge(4, 60000n)).toBe(false); // level: uint8
    expect(await forge(4, 256n)).toBe(false);
    expect(await forge(2, 1n << 16n)).toBe(false); // edits: uint16
    expect(await forge(4, 255n)).toBe(true); // the largest legal value still proves
    expect(await forge(1, 5n)).toBe(true);
  });

  it("rejects the same key twice, within a chunk and across chunks, and keys past their bits", async () => {
    const key = shape.keyField as number;
    const keyOf = (chunk: number, slot: number) =>
      BigInt(honest.plan.chunks[chunk]?.input.values[slot]?.[key] as string);
    const setKey = (chunk: number, slot: number, value: bigint) =>
      forgeable(
        chunkCircuit,
        forgedChunkInput(shape, honest, chunk, (values) => {
          (values[slot] as bigint[])[key] = value;
        }),
      );
    expect(await setKey(1, 5, keyOf(1, 4))).toBe(false); // within a chunk
    expect(await setKey(1, 5, keyOf(1, 4) - 1n)).toBe(false); // decreasing
    expect(await setKey(1, 0, keyOf(0, S - 1))).toBe(false); // across chunks: chunk 0's last key again
    expect(await setKey(last, real - 1, 1n << 16n)).toBe(false); // past the key's 16 bits
    expect(await setKey(last, real - 1, keyOf(last, real - 2) + 1n)).toBe(true); // any larger key is fine
  });

  it("rejects non-zero values in padding slots", async () => {
    for (const field of [0, 2, 3]) {
      expect(
        await forgeable(
          chunkCircuit,
          forgedChunkInput(shape, honest, last, (values) => {
            (values[real + 1] as bigint[])[field] = 1n;
          }),
        ),
      ).toBe(false);
    }
  });

  it("rejects chunk indices past the tree and query elements out of range", async () => {
    const input = honest.plan.chunks[1]?.input as ChunkStepCircuitInput;
    expect(await forgeable(chunkCircuit, { ...input, chunkIndex: "17" })).toBe(false);
    const badSumField = (BigInt(input.aggregate) & ~(0xffn << 8n)) | (BigInt(shape.domains.length) << 8n);
    expect(await forgeable(chunkCircuit, { ...input, aggregate: badSumField.toString() })).toBe(false);
    expect(
      await forgeable(chunkCircuit, {
        ...input,
        clauses: input.clauses.map((c, i) => (i === 0 ? String(BigInt(c) + (1n << 248n)) : c)),
      }),
    ).toBe(false);
  });

  it("the twin refuses what the circuit refuses", () => {
    const chunk = honest.committed.chunks[1] as ChunkedCommitment["chunks"][number];
    expect(() => nextAccumulator(shape, honest.query, INITIAL_OPENING.state, chunk)).toThrow(
      /earlier chunk was not full/,
    );
    expect(() =>
      commitChunks(poseidon, {
        layout: shape.layout,
        domains: shape.domains,
        keyField: shape.keyField,
        records: [...records50].reverse(),
        secret,
        datasetId: "test",
        epoch: 1,
      }),
    ).toThrow(/strictly increasing/);
  });
});

describe("chunk circuit without a key, with a padding field", () => {
  // u8, bool, an always-zero padding field, an enum of 3 values; S = 4, 2 records per leaf.
  const keyless = makeChunkShape({
    layout: { version: 2, chunkSize: 4, leafRecords: 2, treeDepth: 1 },
    domains: ["u8", "b", "z", "e3"].map(domainFromToken),
    keyField: undefined,
    clauses: 3,
    setSize: 3,
  });
  // The query side sees the padding field as an enum of one value (encoded 0, like the padding).
  const keylessSchema = parseSchema({
    fields: [
      { name: "score", type: "uint", bits: 8 },
      { name: "flagged", type: "bool" },
      { name: "padding", type: "enum", values: ["none"] },
      { name: "tier", type: "enum", values: ["a", "b", "c"] },
    ],
  });
  let circuit: LoadedCircuit;
  let final: LoadedCircuit;
  let honest: Chain;
  const records = [
    [7n, 1n, 0n, 2n],
    [9n, 0n, 0n, 1n],
    [200n, 1n, 0n, 2n],
    [0n, 0n, 0n, 0n], // an all-zero real record: told from padding only by recordCount
    [3n, 1n, 0n, 0n],
  ];
  const count: Query = {
    predicate: [{ field: "tier", op: "gte", value: "b" }],
    aggregate: { kind: "count" },
  };
  beforeAll(async () => {
    circuit = await loadChunkShape(keyless);
    final = await loadFinalShape(finalShapeOf(keyless));
    honest = await buildChain(keyless, keylessSchema, records, count, { circuit, final });
  }, 600_000);

  it("proves honest chains and answers like the reference evaluator", () => {
    for (const w of honest.chunkWitnesses) expect(satisfies(circuit, w)).toBe(true);
    expect(satisfies(final, honest.finalWitness)).toBe(true);
    expect(honest.plan.outputs).toEqual({ suppressed: 0n, answer: 3n });
    const signals = chainSignals(honest, circuit, final);
    expect(checkChainSignals(honest.statement, signals.chunks, signals.final)).toEqual({ ok: true });
  });

  it("rejects a non-zero padding field and an enum index of 3", async () => {
    const forge = (field: number, value: bigint) =>
      forgeable(
        circuit,
        forgedChunkInput(keyless, honest, 0, (values) => {
          (values[1] as bigint[])[field] = value;
        }),
      );
    expect(await forge(2, 1n)).toBe(false);
    expect(await forge(2, P - 1n)).toBe(false);
    expect(await forge(3, 3n)).toBe(false);
    expect(await forge(3, 2n)).toBe(true);
  });

  it("a record hidden as padding or a padding slot counted moves realSeen, which the chain cannot close", async () => {
    const hide = (slot: number) =>
      forgedChunkInput(keyless, honest, 0, (_, flags) => {
        flags[slot] = 0n;
      });
    expect(await forgeable(circuit, hide(0))).toBe(false); // flags must be non-increasing
    expect(await forgeable(circuit, hide(2))).toBe(false); // a hidden record must be all zero
    // Hiding the all-zero last record of chunk 0 gives a valid chunk 0 (3 real records) ...
    expect(await forgeable(circuit, hide(3))).toBe(true);
    // ... but then chunk 1 may not start with a real record (realSeenIn != chunkIndex * S).
    const short = { state: { realSeen: 3n, keyFloor: 0n, count: 3n, sum: 216n, max: 72n }, blind: 11n };
    const chunk1 = honest.plan.chunks[1]?.input as ChunkStepCircuitInput;
    const afterShort = {
      ...chunk1,
      realSeenIn: "3",
      countIn: "3",
      sumIn: "216",
      maxIn: "72",
      blindIn: "11",
      accIn: accumulatorCommitment(poseidon, short).toString(),
    };
    expect(await forgeable(circuit, afterShort)).toBe(false);
    // Counting a padding slot of the last chunk gives a valid chunk proof, but realSeen = 6 cannot close
    // against recordCount 5, and recordCount 6 is not the manifest's.
    const counted = forgedChunkInput(keyless, honest, 1, (_, flags) => {
      flags[1] = 1n;
    });
    expect(await forgeable(circuit, counted)).toBe(true);
    const honestFinal = honest.plan.final.input;
    const six = {
      state: {
        realSeen: 6n,
        keyFloor: 0n,
        count: BigInt(honestFinal.count),
        sum: BigInt(honestFinal.sum),
        max: BigInt(honestFinal.max),
      },
      blind: 13n,
    };
    const closeSix = {
      ...honestFinal,
      realSeen: "6",
      blind: "13",
      accIn: accumulatorCommitment(poseidon, six).toString(),
    };
    expect(await forgeable(final, closeSix)).toBe(false);
    const claimSix = { ...closeSix, recordCount: "6" };
    expect(await forgeable(final, claimSix)).toBe(true);
    const signals = chainSignals(honest, circuit, final);
    const w = await final.witness(claimSix);
    expect(checkChainSignals(honest.statement, signals.chunks, publicOf(final, w))).toMatchObject({
      ok: false,
      at: "final",
    });
  });
});
