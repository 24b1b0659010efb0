/**
 * @module cli/commands/serve
 *
 * `zktally serve [options]` runs the prover service (src/service) until SIGTERM or SIGINT, then shuts down
 * gracefully (in-flight requests finish, the running proof is drained or re-queued, the database is closed).
 * `zktally serve admin <command>` administers the same data directory offline: init, partners (add, list,
 * rotate-secret, policy, scopes, disable, enable), budget reset, datasets (add, list), storage key rotation,
 * audit log verification, and online backup / restore (service/backup.ts). Every admin command is recorded in the audit log with partner null.
 *
 * Settings come from flags, then `ZKTALLY_*` environment variables, then defaults (service/config.ts).
 * Exit codes: 0 success, 1 a check failed (`audit verify`), 2 bad usage or configuration.
 *
 * Security caveats: client secrets are printed once, to stdout, as JSON; nothing else prints secrets.
 * While a server runs on the same data directory, prefer the admin HTTP endpoints: two processes appending
 * to the audit log at the same moment make one of them fail (and retry) rather than interleave.
 */

import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { readLatestHead } from "../../audit/store.ts";
import { AdminOps } from "../../service/admin.ts";
import { backupService, checkRestored, parseBackup, writeRestoredFiles } from "../../service/backup.ts";
import { CONFIG_SOURCES, configFromSources, type ServiceConfig } from "../../service/config.ts";
import { partnerView } from "../../service/partners.ts";
import { initService, openService, startServer } from "../../service/server.ts";
import { jobView, progressLine } from "../../service/views.ts";
import { isZktallyError, NotFoundError } from "../../util/errors.ts";
import { parseStrictJson } from "../../util/strict-json.ts";
import { type Command, errorReport, exitCodeOf, UsageError } from "../command.ts";
import { untilStopSignal } from "../stop-signal.ts";

export const configOptions = {
  ...Object.fromEntries(
    CONFIG_SOURCES.map(
      (source) => [source.flag, { type: source.kind === "bool" ? "boolean" : "string" }] as const,
    ),
  ),
  /** `--mode development`: serve INSECURE development keys (demo and tests only). */
  dev: { type: "boolean" },
} as Record<string, { type: "string" | "boolean" }>;

const adminOptions = {
  id: { type: "string" },
  name: { type: "string" },
  scopes: { type: "string" },
  policy: { type: "string" },
  schema: { type: "string" },
  data: { type: "string" },
  epoch: { type: "string" },
  /** `dataset add`: commit in chunks (layout v2) even when the records fit one circuit instance. */
  chunked: { type: "boolean" },
  out: { type: "string" },
  from: { type: "string" },
  key: { type: "string" },
} as const;

const write = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** A JSON argument given inline or as a file path. */
async function jsonArgument(value: string, flag: string): Promise<unknown> {
  const text = value.trimStart().startsWith("{") ? value : await readFile(value, "utf8");
  try {
    return parseStrictJson(text);
  } catch (error) {
    throw new UsageError(`--${flag}: not valid JSON (${(error as Error).message})`);
  }
}

/** Admin commands and the flags each requires (checked before the data directory is opened). */
const ADMIN_COMMANDS: Readonly<Record<string, readonly (keyof typeof adminOptions)[]>> = {
  init: [],
  "partner add": ["id", "scopes"],
  "partner list": [],
  "partner rotate-secret": ["id"],
  "partner policy": ["id", "policy"],
  "partner scopes": ["id", "scopes"],
  "partner disable": ["id"],
  "partner enable": ["id"],
  "budget reset": ["id"],
  "dataset add": ["id", "schema", "data"],
  "dataset list": [],
  "keys rotate": [],
  "keys rotate-operator": [],
  "keys revoke-operator": ["key"],
  "keys rotate-log": [],
  "audit verify": [],
  "audit head": [],
  backup: ["out"],
  restore: ["from"],
  "job list": [],
  "job show": ["id"],
};

function requiredFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`--${flag} is required`);
  return value;
}

async function runServe(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: configOptions, strict: true, allowPositionals: false });
  const config = configFromSources(values);
  const server = await startServer(config);
  await untilStopSignal();
  await server.close();
  return 0;
}

/** `zktally serve admin ...` (also the top-level `zktally partner ...`); returns the exit code. */
export async function runAdmin(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...configOptions, ...adminOptions },
    strict: true,
    allowPositionals: true,
  });
  const [group, action] = positionals;
  const flags = values as Record<string, string | boolean | undefined>;
  const text = (flag: keyof typeof adminOptions) => flags[flag] as string | undefined;
  const command = `${group ?? ""} ${action ?? ""}`.trim();
  // Usage first, state second: a typo in the command or a missing flag never touches the data directory.
  const required = ADMIN_COMMANDS[command];
  if (required === undefined)
    throw new UsageError(`unknown admin command ${JSON.stringify(positionals.join(" "))}`);
  for (const flag of required) requiredFlag(text(flag), flag);
  const config = { ...configFromSources(flags), logLevel: "warn" as const };
  if (command === "restore") return runRestore(requiredFlag(text("from"), "from"), config);
  // Only init creates state; every other command opens (and checks) an initialised data directory. audit
  // verify opens a log that may fail verification, to report where.
  const opened =
    command === "init"
      ? await initService(config)
      : await openService(config, {}, { verifyAuditLog: command !== "audit verify" });
  const ops = new AdminOps(opened.ctx);
  const requestId = randomUUID();
  try {
    switch (command) {
      case "init": {
        const { log } = opened.ctx.audit;
        write({
          operatorKey: opened.ctx.operatorKey,
          logKey: log.logKey,
          tokenKeyId: opened.ctx.tokens.kid,
          circuit: opened.ctx.circuit.id,
        });
        return 0;
      }
      case "partner add": {
        const policy =
          text("policy") === undefined ? undefined : await jsonArgument(text("policy") as string, "policy");
        const { partner, clientSecret } = await ops.createPartner(null, requestId, {
          clientId: requiredFlag(text("id"), "id"),
          ...(text("name") === undefined ? {} : { name: text("name") }),
          scopes: requiredFlag(text("scopes"), "scopes").split(","),
          ...(policy === undefined ? {} : { policy }),
        });
        write({ partner: partnerView(partner), clientSecret });
        return 0;
      }
      case "partner list":
        write({ partners: opened.ctx.partners.list().map(partnerView) });
        return 0;
      case "partner rotate-secret":
        write({
          clientId: text("id"),
          clientSecret: await ops.rotateSecret(null, requestId, requiredFlag(text("id"), "id")),
        });
        return 0;
      case "partner policy": {
        const policy = await jsonArgument(requiredFlag(text("policy"), "policy"), "policy");
        write(partnerView(ops.setPolicy(null, requestId, requiredFlag(text("id"), "id"), policy)));
        return 0;
      }
      case "partner scopes":
        write(
          partnerView(
            ops.setScopes(
              null,
              requestId,
              requiredFlag(text("id"), "id"),
              requiredFlag(text("scopes"), "scopes").split(","),
            ),
          ),
        );
        return 0;
      case "partner disable":
      case "partner enable":
        write(
          partnerView(ops.setActive(null, requestId, requiredFlag(text("id"), "id"), action === "enable")),
        );
        return 0;
      case "budget reset":
        write(ops.resetBudget(null, requestId, requiredFlag(text("id"), "id")));
        return 0;
      case "dataset add": {
        const schema = await jsonArgument(requiredFlag(text("schema"), "schema"), "schema");
        const dataFile = requiredFlag(text("data"), "data");
        const epoch = text("epoch") === undefined ? {} : { epoch: Number(text("epoch")) };
        const chunked = flags.chunked === true ? { chunked: true } : {};
        // Streamed from the file: a chunked dataset is never read whole (docs/service.md).
        write(
          await ops.registerDatasetFile(
            null,
            requestId,
            { datasetId: requiredFlag(text("id"), "id"), schema, ...epoch, ...chunked },
            dataFile,
          ),
        );
        return 0;
      }
      case "dataset list":
        write({
          operatorKey: opened.ctx.operatorKey,
          datasets: opened.ctx.datasets
            .listLatest()
            .map((d) => ({ datasetId: d.datasetId, epoch: d.epoch, manifestHash: d.manifestHash })),
        });
        return 0;
      case "keys rotate":
        write(await ops.rotateStorageKey(null, requestId));
        return 0;
      case "audit verify": {
        const result = ops.verifyAudit();
        write(result);
        return result.ok ? 0 : 1;
      }
      case "keys rotate-operator":
        write(ops.rotateOperatorKey(null, requestId));
        return 0;
      case "keys revoke-operator":
        write(ops.revokeOperatorKey(null, requestId, requiredFlag(text("key"), "key")));
        return 0;
      case "keys rotate-log":
        write(ops.rotateLogKey(null, requestId));
        return 0;
      case "backup":
        write(await backupService(opened.ctx, opened.keyRing, requiredFlag(text("out"), "out")));
        return 0;
      case "job list":
        write({
          jobs: opened.ctx.jobs.listRecent(50).map((row) => ({
            ...jobView(row, opened.ctx.jobs.queuePosition(row)),
            progressLine: progressLine(row),
          })),
        });
        return 0;
      case "job show": {
        const row = opened.ctx.jobs.byId(requiredFlag(text("id"), "id"));
        if (!row) throw new NotFoundError("job");
        write({ ...jobView(row, opened.ctx.jobs.queuePosition(row)), progressLine: progressLine(row) });
        return 0;
      }
      case "audit head":
        write({ logKey: opened.ctx.audit.log.logKey, treeHead: readLatestHead(opened.ctx.db) ?? null });
        return 0;
      default:
        throw new Error(`admin command ${command} is listed in ADMIN_COMMANDS but not implemented`);
    }
  } finally {
    opened.close();
  }
}

/** `serve admin restore --from FILE --data-dir DIR [--key-file F]`: restore, boot-check, print the head. */
async function runRestore(file: string, config: ServiceConfig): Promise<number> {
  const backup = parseBackup(await readFile(file, "utf8"));
  const restoredConfig = { ...config, keyFile: config.keyFile ?? backup.keyFile.path };
  writeRestoredFiles(backup, restoredConfig);
  const opened = await openService(restoredConfig);
  try {
    const treeHead = checkRestored(backup, opened.ctx);
    write({
      restored: restoredConfig.dataDir,
      keyFile: restoredConfig.keyFile,
      auditLog: "verified",
      treeHead,
    });
    return 0;
  } finally {
    opened.close();
  }
}

export const serveCommand: Command = {
  name: "serve",
  usage: [
    "serve [--data-dir DIR] [--host H] [--port P] [--tls-cert F --tls-key F] [--keys-dir DIR] [--circuit ID] ...",
    "                                     run the prover service (flags or ZKTALLY_* env; docs/service.md)",
    "      [--dev | --mode development]   serve INSECURE development keys (refused in the default production mode)",
    "serve admin init | partner add --id ID --scopes a,b [--policy JSON|FILE] | partner list",
    "      | partner rotate-secret|disable|enable --id ID | partner policy --id ID --policy JSON|FILE",
    "      | partner scopes --id ID --scopes a,b | budget reset --id ID",
    "      | dataset add --id ID --schema F --data F.csv|F.jsonl [--epoch N] [--chunked] [--chunk-size S]",
    "      | dataset list | keys rotate | audit verify | audit head | job list | job show --id JOB",
    "      | keys rotate-operator | keys revoke-operator --key HEX   operator key statements (restart to sign with the new key)",
    "      | keys rotate-log   audit log key (offline; a running service: POST /v1/admin/keys/rotate-log)",
    "      | backup --out FILE | restore --from FILE --data-dir DIR [--key-file F]   (docs/operations.md)",
    "                                     administer the service data directory (job: state and chunks done / total, ETA)",
  ],
  async run(args) {
    try {
      return args[0] === "admin" ? await runAdmin(args.slice(1)) : await runServe(args);
    } catch (error) {
      // Usage errors go up to main, which prints them with the usage text.
      if (isZktallyError(error) && !(error instanceof UsageError)) {
        process.stderr.write(errorReport("serve", error));
        return exitCodeOf(error);
      }
      throw error;
    }
  },
};
