/**
 * @module circuits/pass-noise-witness
 *
 * TypeScript twin of `circuits/lib/pass-final-noisy.circom`: the per-cell noise of a noisy histogram derived
 * from the secret seed exactly as the circuit derives it (slot digest, cell digest, coins, dither; the draw
 * itself is noise-witness.ts's), the released cells, and PassFinalNoisy's input with identical signal names.
 * The reference evaluator of noisy cells: the prover refuses a proof whose released cells differ.
 *
 * Security caveats: the seed, its blind, the opened state and its blind are operator secrets; the inputs built
 * here go only to the prover, never into bundles or logs.
 */
import { FIELD_ORDER } from "../core/field.ts";
import type { PoseidonEx } from "../dataset/commitment.ts";
import type { NoiseSecret } from "../dataset/noise-seed.ts";
import { checkNoiseParams, type NoiseParams } from "./noise.ts";
import { type NoiseDraw, noiseDigest, noiseDraw } from "./noise-witness.ts";
import {
  type CellParams,
  cellParamsElement,
  makeNoisyPassShape,
  type NoisyPassFinalPublicInputs,
  type NoisyPassShape,
} from "./pass-noise.ts";
import { type PassState, passStateElements } from "./pass-witness.ts";

/** int(utf8("zktally/noise-cell/v1")). */
export const TAG_NOISE_CELL = 178916657140077753263919676101047265377422637233713n;
const NO_PARAMS = { coins: 0, scaleBits: 0 } as const;

/** slotDigest = PoseidonEx([root, nonce, aggregate, clauses..., 0], TAG_NOISE_QUERY) of slot `h`. */
export function slotNoiseDigest(
  poseidon: PoseidonEx,
  inputs: Pick<NoisyPassFinalPublicInputs, "root" | "nonce" | "query">,
  h: number,
): bigint {
  const aggregate = inputs.query.aggregates[h];
  const clauses = inputs.query.clauses[h];
  if (aggregate === undefined || clauses === undefined) throw new RangeError(`no query slot ${h}`);
  return noiseDigest(poseidon, {
    root: inputs.root,
    nonce: inputs.nonce,
    query: { aggregate, clauses },
    params: NO_PARAMS,
  });
}

/** The draw of cell g: BinomialDitherNoise on PoseidonEx([slotDigest, g, params], TAG_NOISE_CELL). */
export function cellNoiseDraw(
  poseidon: PoseidonEx,
  seed: bigint,
  slotDigest: bigint,
  g: number,
  params: NoiseParams,
): NoiseDraw {
  const digest = poseidon([slotDigest, BigInt(g), cellParamsElement(params)], TAG_NOISE_CELL);
  return noiseDraw(poseidon, seed, digest, params);
}

/** Cell counts of slot h from the state (G entries). */
function cellCounts(state: PassState, h: number): readonly bigint[] {
  const slot = state.slots[h];
  if (slot === undefined) throw new RangeError(`no query slot ${h}`);
  return slot.cellCount;
}

/** The released cells (count + shift within each table, 0 beyond), H x G. */
export function noisyPassReleased(
  poseidon: PoseidonEx,
  inputs: NoisyPassFinalPublicInputs,
  state: PassState,
  seed: bigint,
): bigint[][] {
  return inputs.params.map((row, h) => {
    const digest = slotNoiseDigest(poseidon, inputs, h);
    const counts = cellCounts(state, h);
    return row.map((params, g) => {
      if (params === null) return 0n;
      return (counts[g] as bigint) + cellNoiseDraw(poseidon, seed, digest, g, params).shift;
    });
  });
}

/** Checks per-cell params against the shape: H x G entries, valid params in the table, null beyond. */
export function checkCellParams(shape: NoisyPassShape, params: CellParams, used: readonly number[]): void {
  const { histogramSlots: H, cells: G } = shape.pass;
  if (params.length !== H) throw new RangeError(`expected noise params for ${H} histogram slots`);
  params.forEach((row, h) => {
    if (row.length !== G) throw new RangeError(`histogram ${h}: expected params for ${G} cells`);
    row.forEach((cell, g) => {
      const inTable = g < (used[h] ?? 0);
      if (inTable !== (cell !== null)) {
        throw new RangeError(`histogram ${h} cell ${g}: params are required in the table and null beyond`);
      }
      if (cell !== null) checkNoiseParams(cell, shape);
    });
  });
}

const thermometer = (count: number, length: number) =>
  Array.from({ length }, (_, i) => (i < count ? "1" : "0"));

/** PassFinalNoisy's input for the last state, its blind and the secret seed. */
export function noisyPassFinalInput(
  shape: NoisyPassShape,
  inputs: NoisyPassFinalPublicInputs,
  opening: { state: PassState; blind: bigint },
  secret: NoiseSecret,
): Record<string, unknown> {
  const checked = makeNoisyPassShape(shape);
  for (const [name, value] of [
    ["seed", secret.seed],
    ["seedBlind", secret.blind],
    ["nonce", inputs.nonce],
  ] as const) {
    if (value < 0n || value >= FIELD_ORDER) throw new RangeError(`${name} must be in [0, r)`);
  }
  const masks = (pick: (p: NoiseParams) => number, length: number) =>
    inputs.params.map((row) => row.map((p) => thermometer(p === null ? 0 : pick(p), length)));
  return {
    root: String(inputs.root),
    recordCount: String(inputs.recordCount),
    nonce: String(inputs.nonce),
    aggregates: inputs.query.aggregates.map(String),
    clauses: inputs.query.clauses.map((row) => row.map(String)),
    accIn: String(inputs.accIn),
    seedCommitment: String(inputs.seedCommitment),
    params: inputs.params.map((row) => row.map((p) => String(cellParamsElement(p)))),
    state: passStateElements(checked.pass, opening.state).map(String),
    blind: String(opening.blind),
    seed: String(secret.seed),
    seedBlind: String(secret.blind),
    active: masks((p) => p.coins, checked.maxCoins),
    scale: masks((p) => p.scaleBits, checked.maxScaleBits),
  };
}
