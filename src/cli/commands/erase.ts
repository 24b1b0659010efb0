/**
 * @module cli/commands/erase
 *
 * `zktally erase --dataset ID --key K [--key K2 ...] [--force] [service flags]` asks the service's data
 * directory to erase persons' records (service/erasure.ts, docs/operations.md): the request is queued,
 * sealed, until the erasure batch is full (or `--force`), then a new epoch without the records is committed
 * and the older epochs are crypto-shredded. Prints the outcome as JSON; audited as `admin.dataset.erase`
 * with partner null, without the keys.
 *
 * Security caveat: while a server runs on the same data directory, prefer the admin endpoint
 * `POST /v1/admin/datasets/{id}/erasures` (one writer to the audit log at a time).
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { AdminOps } from "../../service/admin.ts";
import { configFromSources } from "../../service/config.ts";
import { openService } from "../../service/server.ts";
import { isZktallyError } from "../../util/errors.ts";
import { type Command, errorReport, exitCodeOf, UsageError } from "../command.ts";
import { configOptions } from "./serve.ts";

async function runErase(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...configOptions,
      dataset: { type: "string" },
      key: { type: "string", multiple: true },
      force: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const flags = values as Record<string, unknown>;
  const datasetId = flags.dataset as string | undefined;
  const keys = (flags.key as string[] | undefined) ?? [];
  if (datasetId === undefined || datasetId === "") throw new UsageError("erase needs --dataset ID");
  if (keys.length === 0) throw new UsageError("erase needs at least one --key K");
  const config = {
    ...configFromSources(flags as Record<string, string | boolean | undefined>),
    logLevel: "warn" as const,
  };
  const opened = await openService(config);
  try {
    const outcome = await new AdminOps(opened.ctx).erase(null, randomUUID(), datasetId, {
      keys,
      ...(flags.force === true ? { force: true } : {}),
    });
    process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    return 0;
  } finally {
    opened.close();
  }
}

export const eraseCommand: Command = {
  name: "erase",
  usage: [
    "erase --dataset ID --key K [--key K ...] [--force] [--data-dir DIR ...]",
    "       erase persons' records: queued until the erasure batch is full, then a new epoch (docs/operations.md)",
  ],
  async run(args) {
    try {
      return await runErase(args);
    } catch (error) {
      if (isZktallyError(error) && !(error instanceof UsageError)) {
        process.stderr.write(errorReport("erase", error));
        return exitCodeOf(error);
      }
      throw error;
    }
  },
};
