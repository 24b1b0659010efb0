/**
 * @module cli/commands/audit
 *
 * `zktally audit verify --db FILE [--log-key HEX] [--heads FILE] [--json]` recomputes the audit log in a
 * SQLite database against its signed tree heads (and any heads kept elsewhere), following the log key
 * rotations recorded in it from the first key (`--log-key`, audit/log-keys): exit 0 intact, 1 tampered
 * (printing the first bad entry index and why), 2 bad usage or unreadable input.
 * `zktally audit head --db FILE` prints the latest signed tree head as JSON, for publishing.
 * `zktally audit monitor URL` follows a service's public transparency log (cli/commands/audit-monitor.ts).
 *
 * Security caveats: the database is opened read-only. Without `--log-key` the key recorded in the database
 * is used, which only proves self-consistency (whoever rewrote the file could have re-signed it with their
 * own key); a warning says so. Heads stored in the database can be deleted along with the entries they
 * cover, so truncation is only caught against heads kept outside it (`--heads`: partners' receipts or
 * published heads). Text from the database is printed with control characters escaped.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { hasAuditLog, readRawEntries, readRawHeads, readStoredLogKey } from "../../audit/store.ts";
import { isPlainObject } from "../../audit/types.ts";
import { verifyAuditLog } from "../../audit/verify.ts";
import { HEX32, HEX32_ANY_CASE } from "../../core/formats.ts";
import { parseStrictJson } from "../../util/strict-json.ts";
import { type Command, UsageError } from "../command.ts";
import { type Output, printable } from "../verify-command.ts";
import { MonitorFetchError, runAuditMonitor } from "./audit-monitor.ts";

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Input that cannot be read or parsed: exit 2. */
class AuditInputError extends Error {
  override name = "AuditInputError";
}

/** `zktally audit <verify|head>`; returns the exit code. */
export async function runAudit(args: string[], output: Output = processOutput): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === "verify") return await runAuditVerify(rest, output);
    if (sub === "head") return runAuditHead(rest, output);
    if (sub === "monitor") return await runAuditMonitor(rest, output);
  } catch (error) {
    if (error instanceof AuditInputError || error instanceof MonitorFetchError) {
      output.err(`audit: ${printable(error.message)}\n`);
      return 2;
    }
    throw error;
  }
  throw new UsageError(
    `audit needs a subcommand: verify, head or monitor (got ${JSON.stringify(sub ?? "")})`,
  );
}

async function runAuditVerify(args: string[], output: Output): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      db: { type: "string" },
      "log-key": { type: "string" },
      heads: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const file = requireDb(values.db);
  const pinned = values["log-key"];
  if (pinned !== undefined && !HEX32_ANY_CASE.test(pinned)) {
    throw new UsageError("--log-key must be 32 bytes of hex (the log's Ed25519 public key)");
  }
  const external = values.heads === undefined ? [] : await readHeadsFile(values.heads);
  const { entries, heads, storedKey } = withDatabase(file, (db) => ({
    entries: readRawEntries(db),
    heads: readRawHeads(db),
    storedKey: readStoredLogKey(db),
  }));
  const logKey = pinned?.toLowerCase() ?? storedKey;
  if (logKey === undefined || !HEX32.test(logKey)) {
    throw new AuditInputError(`${file} records no usable log key; pass --log-key HEX`);
  }
  if (pinned === undefined) {
    output.err("warning: log key read from the database itself; pin the published key with --log-key\n");
  }
  const result = verifyAuditLog(entries, [...heads, ...external], logKey);
  if (values.json) {
    output.out(`${JSON.stringify({ ...result, logKey, externalHeads: external.length })}\n`);
  } else if (result.ok) {
    const rotated =
      result.rotations.length === 0
        ? ""
        : `, ${result.rotations.length} key rotation(s) followed to ${result.logKey}`;
    output.out(
      `OK  audit log intact: ${result.treeSize} entries, root ${result.rootHash}, ` +
        `${result.headsChecked} signed heads checked (${external.length} external), log key ${logKey}${rotated}\n`,
    );
  } else {
    output.out(`TAMPERED  at entry ${result.index}: ${printable(result.reason)}\n`);
  }
  return result.ok ? 0 : 1;
}

function runAuditHead(args: string[], output: Output): number {
  const { values } = parseArgs({ args, options: { db: { type: "string" } }, strict: true });
  const file = requireDb(values.db);
  const heads = withDatabase(file, readRawHeads);
  const latest = heads.at(-1);
  if (latest === undefined) {
    output.err(`audit: ${file} holds no signed tree head yet\n`);
    return 1;
  }
  output.out(`${JSON.stringify(latest, null, 2)}\n`);
  return 0;
}

function requireDb(db: string | undefined): string {
  if (db === undefined) throw new UsageError("audit needs --db FILE (the service's SQLite database)");
  return db;
}

function withDatabase<T>(file: string, read: (db: Database.Database) => T): T {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new AuditInputError(`cannot open ${file}: ${(error as Error).message}`);
  }
  try {
    if (!hasAuditLog(db)) throw new AuditInputError(`${file} holds no audit log`);
    return read(db);
  } catch (error) {
    if (error instanceof AuditInputError) throw error;
    throw new AuditInputError(`cannot read the audit log in ${file}: ${(error as Error).message}`);
  } finally {
    db.close();
  }
}

/** A JSON file of heads kept outside the database: a head, a receipt, or an array of either. */
async function readHeadsFile(file: string): Promise<unknown[]> {
  let value: unknown;
  try {
    value = parseStrictJson(await readFile(file, "utf8"));
  } catch (error) {
    throw new AuditInputError(`cannot read heads file ${file}: ${(error as Error).message}`);
  }
  const items = Array.isArray(value) ? value : [value];
  return items.map((item, i) => {
    if (!isPlainObject(item)) throw new AuditInputError(`heads file ${file}: item ${i} is not an object`);
    // A receipt carries its head; anything else is taken as a head and checked by the verifier.
    return "treeHead" in item ? item.treeHead : item;
  });
}

export const auditCommand: Command = {
  name: "audit",
  usage: [
    "audit verify --db FILE [--log-key HEX] [--heads FILE] [--json]",
    "       check the audit log against its signed tree heads (exit 0 intact, 1 tampered, 2 unreadable)",
    "audit head --db FILE   print the latest signed tree head as JSON",
    "audit monitor URL [--state FILE] [--log-key HEX] [--json]",
    "       follow a service's public transparency log; report rewritten, truncated or forked history (exit 1)",
  ],
  run: (args) => runAudit(args),
};
