/**
 * @module verifier/points
 *
 * The validated point types of the verifier (types only, no code): what `parse.ts` returns and what the
 * subgroup test, the pairing and the key preparation consume. Its own module so those files share the
 * types without importing one another in a cycle.
 */
import type { Fp2 } from "@noble/curves/abstract/tower.js";
import type { WeierstrassPoint } from "@noble/curves/abstract/weierstrass.js";

/** A validated G1 point: on the curve, in the subgroup, not infinity. */
export type G1Point = WeierstrassPoint<bigint>;
/** A validated G2 point: on the twist, in the order-r subgroup, not infinity. */
export type G2Point = WeierstrassPoint<Fp2>;
