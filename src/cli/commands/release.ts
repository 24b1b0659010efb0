/**
 * @module cli/commands/release
 *
 * `zktally release --data FILE --schema FILE --id ID --risk FILE [--epoch N] [--threshold N] [--out DIR]
 * [--keys DIR] [--data-dir DIR] [--dev] [--tables H] [--chunk-size S] [--leaf-records B] [--tree-depth T]
 * [--wiki F --country F --activity F]`:
 * a geoeditors-style release (docs/privacy.md "Releases"): the table of records per (wiki, country, activity
 * level) with proven noise per cell at the country's risk tier, cells below the threshold withheld on their
 * noisy value, written as manifest.json, release.json (the proofs) and release.tsv. Check it with
 * `zktally verify release.json --keys DIR --operator-key HEX`. The logic is `offlineRelease`
 * (src/release/offline.ts); this file only reads arguments.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KEYS_DIR } from "../../config/defaults.ts";
import { FIELD_ORDER } from "../../core/field.ts";
import { parseSchema } from "../../dataset/schema.ts";
import { offlineRelease } from "../../release/offline.ts";
import { RiskListError } from "../../release/risk.ts";
import { parseStrictJson } from "../../util/strict-json.ts";
import { type Command, UsageError } from "../command.ts";
import { loadOrCreateOperatorState } from "../operator-state.ts";

const OPTIONS = {
  data: { type: "string" },
  schema: { type: "string" },
  id: { type: "string" },
  risk: { type: "string" },
  epoch: { type: "string", default: "1" },
  threshold: { type: "string", default: "10" },
  out: { type: "string", default: "release" },
  keys: { type: "string" },
  "data-dir": { type: "string", default: ".zktally" },
  dev: { type: "boolean", default: false },
  tables: { type: "string", default: "1" },
  "chunk-size": { type: "string" },
  "leaf-records": { type: "string" },
  "tree-depth": { type: "string" },
  wiki: { type: "string", default: "wiki" },
  country: { type: "string", default: "country" },
  activity: { type: "string", default: "activity" },
} as const;

function integer(value: string | undefined, name: string, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
  return n;
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new UsageError(`release needs --${name}`);
  return value;
}

/** The chunk layout flags given (the rest default in chunkLayoutFor); every one names the circuit ids. */
function chunkLayoutOptions(values: {
  readonly "chunk-size"?: string;
  readonly "leaf-records"?: string;
  readonly "tree-depth"?: string;
}): { chunkSize?: number; leafRecords?: number; treeDepth?: number } {
  const flags = [
    ["chunk-size", "chunkSize", 1],
    ["leaf-records", "leafRecords", 1],
    ["tree-depth", "treeDepth", 0],
  ] as const;
  const layout: { chunkSize?: number; leafRecords?: number; treeDepth?: number } = {};
  for (const [flag, key, min] of flags) {
    const value = values[flag];
    if (value !== undefined) layout[key] = integer(value, flag, min);
  }
  return layout;
}

async function runRelease(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false });
  const schema = parseSchema(parseStrictJson(await readFile(required(values.schema, "schema FILE"), "utf8")));
  const state = await loadOrCreateOperatorState(values["data-dir"]);
  const nonce = BigInt(`0x${randomBytes(32).toString("hex")}`) % FIELD_ORDER;
  const result = await offlineRelease({
    dataFile: required(values.data, "data FILE"),
    schema,
    datasetId: required(values.id, "id ID"),
    epoch: integer(values.epoch, "epoch", 0),
    riskText: await readFile(required(values.risk, "risk FILE"), "utf8"),
    threshold: integer(values.threshold, "threshold", -(2 ** 40)),
    fields: { wiki: values.wiki, country: values.country, activity: values.activity },
    outDir: values.out,
    keysDir: values.keys ?? (values.dev ? join(values["data-dir"], "dev-keys") : KEYS_DIR),
    operator: state,
    dev: values.dev,
    nonce,
    tablesPerPass: integer(values.tables, "tables", 1),
    layout: chunkLayoutOptions(values),
  });
  process.stdout.write(`${JSON.stringify({ ...result, operatorKey: state.operatorPublicKey }, null, 2)}\n`);
  return 0;
}

export const releaseCommand: Command = {
  name: "release",
  usage: [
    "release --data FILE --schema FILE --id ID --risk FILE [--threshold N] [--out DIR] [--keys DIR] [--dev]",
    "       a geoeditors-style release: noisy editors per (wiki, country, activity), epsilon by country risk,",
    "       cells below the threshold withheld on their noisy value, every cell proven (docs/privacy.md)",
  ],
  help: `usage: zktally release --data FILE --schema FILE --id ID --risk FILE [options]

Proves the table of records per (wiki, country, activity level) with noise per cell (binomial-dither/v1,
epsilon by the country's risk tier) and writes manifest.json, release.json and release.tsv to --out.

  --data FILE        the dataset (.csv or .jsonl) of the schema
  --schema FILE      the schema (JSON); wiki, country and activity must be enum fields
  --id ID            the dataset id the manifest names        --epoch N  its epoch (default 1)
  --risk FILE        the risk list: JSON {"tiers": {"low": 1.1, "medium": 0.2, "high": 0.1}, "delta": 1e-9,
                     "default": "low", "countries": {"XX": "high"}} or TSV lines country<TAB>tier
  --threshold N      cells whose noisy value is below N are withheld (default 10)
  --out DIR          output directory (default ./release)
  --keys DIR         pinned keys (default keys/; with --dev: DATA_DIR/dev-keys)
  --dev              build INSECURE development keys for missing circuits
  --data-dir DIR     the operator's key and dataset secret (default .zktally)
  --tables H         wiki tables per proof (default 1)   --chunk-size S  records per chunk proof
  --leaf-records B   records per leaf   --tree-depth T  chunk tree depth (defaults fitted to the schema)
  --wiki F --country F --activity F   the field names (default wiki, country, activity)

Check a release with: zktally verify OUT/release.json --keys DIR --operator-key HEX
`,
  async run(args) {
    try {
      return await runRelease(args);
    } catch (error) {
      if (error instanceof RiskListError || error instanceof RangeError) {
        process.stderr.write(`zktally release: ${error.message}\n`);
        return 2;
      }
      throw error;
    }
  },
};
