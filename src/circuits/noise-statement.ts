/**
 * @module circuits/noise-statement
 *
 * The public side of a chain closed by the noisy final step (docs/design.md 8.4): the chunk proofs are
 * checked exactly as for ChunkFinal (checkChunkLinks: order, root, nonce, query, accumulator links), and the
 * final proof's signals must be the manifest's root, recordCount and noiseCommitment, the request's nonce and
 * query, the last chunk's accOut, the bundle's noise params, and the released value the claimed noisy answer
 * implies (noisy + centre). The first mismatch is named. Browser-safe: no Node.js imports, no Poseidon.
 */
import { type ChainCheck, type ChainStatement, checkChunkLinks } from "./chunk-statement.ts";
import {
  type NoiseParams,
  noiseCentre,
  noisyFinalPublicSignalNames,
  noisyFinalPublicSignals,
} from "./noise.ts";

/** What a noisy chain must prove: the chain's public values, the seed commitment, the params and the answer. */
export interface NoisyChainStatement
  extends Pick<ChainStatement, "root" | "recordCount" | "chunkSize" | "chunkCount" | "nonce" | "query"> {
  readonly seedCommitment: bigint;
  readonly params: NoiseParams;
  /** The claimed noisy answer (released - centre), a signed integer. */
  readonly noisy: bigint;
}

/** Checks the chunk and final public signals of a noisy chain against its statement (proofs separately). */
export function checkNoisyChainSignals(
  statement: NoisyChainStatement,
  chunkSignals: readonly (readonly string[])[],
  finalSignals: readonly string[],
): ChainCheck {
  const links = checkChunkLinks(statement, chunkSignals);
  if (!links.ok) return links;
  const released = statement.noisy + noiseCentre(statement.params);
  if (released < 0n) {
    return { ok: false, at: "final", reason: "the noisy answer is below the noise's support" };
  }
  const expected = noisyFinalPublicSignals(
    {
      root: statement.root,
      recordCount: statement.recordCount,
      nonce: statement.nonce,
      query: statement.query,
      accIn: BigInt(links.accOut),
      seedCommitment: statement.seedCommitment,
      params: statement.params,
    },
    released,
  );
  if (finalSignals.length !== expected.length) {
    return { ok: false, at: "final", reason: `the final proof has ${finalSignals.length} public signals` };
  }
  const names = noisyFinalPublicSignalNames({ clauses: statement.query.clauses.length });
  for (let index = 0; index < expected.length; index++) {
    if (finalSignals[index] !== expected[index]) {
      return { ok: false, at: "final", reason: `final proof: ${finalReason(names[index] as string)}` };
    }
  }
  return { ok: true };
}

function finalReason(name: string): string {
  if (name === "released") return "the released value is not the claimed noisy answer plus the noise centre";
  if (name === "accIn") return "accIn is not the last chunk's accumulator (chain broken or forked)";
  if (name === "seedCommitment") return "seedCommitment is not the manifest's noise commitment";
  if (name === "params") return "the noise params are not the bundle's";
  return `${name} differs from the statement`;
}
