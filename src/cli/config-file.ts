/**
 * @module cli/config-file
 *
 * The config file `zktally init` writes and `zktally commit` reads (default `zktally.config.json`):
 * `{ "datasetId": ID, "data": FILE, "schema": {...} }`, the data path relative to the config file.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { assertDatasetId } from "../core/formats.ts";
import { parseSchema, type Schema } from "../dataset/schema.ts";
import { InputError } from "../util/errors.ts";
import { parseStrictJson } from "../util/strict-json.ts";

export interface DatasetConfig {
  readonly datasetId: string;
  /** The dataset file, resolved against the config file's folder. */
  readonly data: string;
  readonly schema: Schema;
}

/** Writes the config (the data path made relative to the config's folder); refuses to overwrite unless `force`. */
export async function writeDatasetConfig(file: string, config: DatasetConfig, force: boolean): Promise<void> {
  if (existsSync(file) && !force) {
    throw new InputError("config_exists", `${file} exists`, {
      path: file,
      hint: "pass --force to overwrite it, or --out FILE to write another file",
    });
  }
  const data = path.relative(path.dirname(path.resolve(file)), path.resolve(config.data));
  await writeFile(file, `${JSON.stringify({ ...config, data }, null, 2)}\n`);
}

/** Reads and checks a config file (dataset id, schema); throws `InputError` naming the file. */
export async function readDatasetConfig(file: string): Promise<DatasetConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new InputError(
      "config_missing",
      `config file ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      {
        path: file,
        hint: "write one with `zktally init SAMPLE.csv`, or pass --config FILE (or --id, --schema and --data)",
      },
    );
  }
  const json = parseStrictJson(text, file) as Record<string, unknown>;
  if (typeof json.data !== "string")
    throw new InputError("invalid_config", `config file ${file}: "data" must be a file path`, { path: file });
  assertDatasetId(json.datasetId);
  return {
    datasetId: json.datasetId,
    data: path.resolve(path.dirname(file), json.data),
    schema: parseSchema(json.schema),
  };
}
