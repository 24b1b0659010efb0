/**
 * @module cli/commands/commit
 *
 * `zktally commit [--config FILE] [--data FILE] [--id ID] [--schema FILE] [--epoch N] [--chunked] [--init]
 * [--json] [service options]`: commits a dataset file as the next epoch of a dataset in the service's data
 * directory (the `serve admin dataset add` operation: encrypted at rest, signed manifest, chunked when the
 * records exceed one circuit instance, audited). The data directory must already hold service state: a
 * mistyped `--data-dir` is refused rather than given a new operator identity, unless `--init` asks for one.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { AdminOps } from "../../service/admin.ts";
import { configFromSources, type ServiceConfig } from "../../service/config.ts";
import { initService, type OpenedService, openService } from "../../service/server.ts";
import { InputError, isZktallyError } from "../../util/errors.ts";
import { parseStrictJson } from "../../util/strict-json.ts";
import { UsageError } from "../command.ts";
import { readDatasetConfig } from "../config-file.ts";
import { configOptions } from "./serve.ts";

export interface CommitOptions {
  readonly config: string;
  readonly data?: string;
  readonly id?: string;
  readonly schema?: string;
  readonly epoch?: string;
  readonly chunked?: boolean;
  readonly init?: boolean;
  readonly json?: boolean;
}

/** What to commit: the flags, falling back to the config file (needed only when a flag is missing). */
async function datasetInput(options: CommitOptions) {
  const fromFlags = options.data !== undefined && options.id !== undefined && options.schema !== undefined;
  const config = fromFlags ? undefined : await readDatasetConfig(options.config);
  const schema =
    options.schema === undefined
      ? config?.schema
      : parseStrictJson(await readFile(options.schema, "utf8"), options.schema);
  return {
    datasetId: options.id ?? config?.datasetId,
    schema,
    data: (options.data ?? config?.data) as string,
  };
}

function epochOf(text: string | undefined): { epoch?: number } {
  if (text === undefined) return {};
  const epoch = Number(text);
  if (!Number.isSafeInteger(epoch) || epoch < 1) {
    throw new UsageError(`--epoch ${text}: expected a positive integer`);
  }
  return { epoch };
}

/** Opens the data directory; with `init`, creates the service state when there is none. */
async function openOrInit(config: ServiceConfig, init: boolean): Promise<OpenedService> {
  try {
    return await openService(config);
  } catch (error) {
    if (!(isZktallyError(error) && error.code === "not_initialised")) throw error;
    if (init) return initService(config);
    throw new InputError("not_initialised", error.message, {
      path: config.dataDir,
      hint: `check --data-dir / ZKTALLY_DATA_DIR; to create a new operator identity there, pass --init (or run zktally serve admin init --data-dir ${config.dataDir})`,
    });
  }
}

export async function runCommit(options: CommitOptions, serviceArgs: string[]): Promise<number> {
  const { values } = parseArgs({
    args: serviceArgs,
    options: configOptions,
    strict: true,
    allowPositionals: false,
  });
  const input = await datasetInput(options);
  const config = { ...configFromSources(values), logLevel: "warn" as const };
  const opened = await openOrInit(config, options.init === true);
  try {
    const registration = {
      datasetId: input.datasetId,
      schema: input.schema,
      ...epochOf(options.epoch),
      ...(options.chunked ? { chunked: true } : {}),
    };
    const view = await new AdminOps(opened.ctx).registerDatasetFile(
      null,
      randomUUID(),
      registration,
      input.data,
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ operatorKey: opened.ctx.operatorKey, ...view })}\n`);
      return 0;
    }
    const { manifest } = view as {
      manifest: { datasetId: string; epoch: number; recordCount: number; root: string };
    };
    process.stdout.write(
      `committed ${manifest.datasetId} epoch ${manifest.epoch}: ${manifest.recordCount} records, root ${manifest.root}\n` +
        `  manifest   ${view.manifestHash}\n  operator   ${opened.ctx.operatorKey}\n`,
    );
    return 0;
  } finally {
    opened.close();
  }
}
