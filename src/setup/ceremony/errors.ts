/**
 * @module setup/ceremony/errors
 *
 * `CeremonyError`: the one error of the ceremony steps and checks. Its `check` names the failed check with a
 * stable string (`ptau`, `beacon`, `contribution-hash`, ...) that tests and tooling match on.
 */

import { SetupError } from "../ptau.ts";

/** A ceremony step or check failed; `check` names which (stable, for tests and tooling). */
export class CeremonyError extends SetupError {
  override name = "CeremonyError";
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(message);
  }
}
