/**
 * @module cli/commands/init
 *
 * `zktally init SAMPLE [--id ID] [--key COLUMN] [--max-enum N] [--out FILE] [--force] [--json]`: proposes a
 * schema from a sample file (dataset/propose.ts) and writes the config file `zktally commit` reads.
 */

import { datasetIdFromFile, proposeSchema, readSample } from "../../dataset/propose.ts";
import { UsageError } from "../command.ts";
import { writeDatasetConfig } from "../config-file.ts";

export interface InitOptions {
  readonly id?: string;
  readonly key?: string;
  readonly maxEnum: string;
  readonly out: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

function maxEnumOf(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`--max-enum ${text}: expected a positive integer`);
  return value;
}

export async function runInit(sample: string, options: InitOptions): Promise<number> {
  const maxEnumValues = maxEnumOf(options.maxEnum);
  let proposal: ReturnType<typeof proposeSchema>;
  try {
    proposal = proposeSchema(await readSample(sample), {
      maxEnumValues,
      ...(options.key === undefined ? {} : { key: options.key }),
    });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  const config = {
    datasetId: options.id ?? datasetIdFromFile(sample),
    data: sample,
    schema: proposal.schema,
  };
  await writeDatasetConfig(options.out, config, options.force === true);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ config: options.out, ...config, notes: proposal.notes })}\n`);
    return 0;
  }
  const lines = [
    `wrote ${options.out}: dataset ${config.datasetId}, data ${sample}`,
    ...proposal.schema.fields.map((field) => {
      const detail =
        field.type === "uint" || field.type === "string-key"
          ? ` (${field.bits} bits)`
          : field.type === "enum"
            ? `: ${field.values.join(", ")}`
            : "";
      return `  ${field.name}  ${field.type}${detail}${field.name === proposal.schema.key ? "  [key]" : ""}`;
    }),
    ...proposal.notes.map((note) => `note: ${note}`),
    `next: check the schema, then zktally commit --config ${options.out} --data-dir DIR`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
