/**
 * @module cli/commands/partner
 *
 * `zktally partner add|rotate|policy`: thin wrappers over the admin operations of `zktally serve admin
 * partner add|rotate-secret|policy` on the same data directory (service options passed through). Client
 * secrets are printed once, as JSON.
 */
import { runAdmin } from "./serve.ts";

/** The flags each action passes on, from its commander options. */
const FLAGS: Readonly<Record<string, readonly string[]>> = {
  add: ["id", "scopes", "name", "policy"],
  rotate: ["id"],
  policy: ["id", "policy"],
};

const ADMIN_ACTION: Readonly<Record<string, string>> = {
  add: "add",
  rotate: "rotate-secret",
  policy: "policy",
};

export async function runPartner(
  action: string,
  options: Readonly<Record<string, unknown>>,
  serviceArgs: readonly string[],
): Promise<number> {
  const flags = (FLAGS[action] ?? []).flatMap((flag) =>
    typeof options[flag] === "string" ? [`--${flag}`, options[flag] as string] : [],
  );
  return runAdmin(["partner", ADMIN_ACTION[action] ?? action, ...flags, ...serviceArgs]);
}
