/**
 * @module cli/start
 *
 * `npm start`: the operator's main job on the embedded defaults, end to end. It generates a synthetic
 * geoeditors-like dataset (examples/geoeditors, deterministic seed; several thousand editors, so it is
 * committed as a chain of chunks), starts the service (SQLite, in-process job queue, local prover pool,
 * development mode), commits the file through the audited admin operation, registers an exact partner and a
 * dp partner, and then, as those partners and only over HTTP, asks, follows, downloads and verifies: a count
 * with a date clause, a histogram of human editors by activity level (a pass query), a suppressed small group
 * and a noisy (dp) count. It prints what each bundle proves in words and the
 * URL of the browser verification page, and keeps serving until Ctrl-C (`serve: false` stops instead).
 *
 * First run: compiles the circuits and builds their INSECURE development keys into the cache directory
 * (progress shown); later runs reuse them. Record count and chunk size: `ZKTALLY_START_RECORDS`,
 * `ZKTALLY_START_CHUNK_SIZE` (the test runs a small instance).
 *
 * Security caveat: development keys and development mode only; whoever ran the setup could forge proofs.
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AggregateShape, circuitId, makeShape } from "../circuits/shape.ts";
import { DATA_DIR } from "../config/defaults.ts";
import { GEOEDITORS_SCHEMA, generateGeoeditorsCsv, RARE_COUNTRY } from "../config/geoeditors.ts";
import { loadDataset } from "../dataset/load.ts";
import { parseSchema, type Schema } from "../dataset/schema.ts";
import { AdminOps } from "../service/admin.ts";
import { parseServiceConfig, type ServiceConfig } from "../service/config.ts";
import { initService, type RunningServer, startServer } from "../service/server.ts";
import { buildDevKeys } from "../setup/index.ts";
import { PinMismatchError, readKeysManifest } from "../setup/keys-manifest.ts";
import { ensureMainFile } from "../setup/main-files.ts";
import { consoleProgress } from "../util/progress.ts";
import {
  PartnerClient,
  type PartnerCredentials,
  type VerifiedAnswer,
  type VerifiedPass,
} from "./start-client.ts";

export const START_DATASET = "geoeditors";

export interface MainJobOptions {
  /** Editors generated (default `ZKTALLY_START_RECORDS` or 2048). */
  readonly records?: number;
  /** Records per chunk proof (default `ZKTALLY_START_CHUNK_SIZE` or 32). */
  readonly chunkSize?: number;
  /** Depth of the 16-ary tree over chunks (default 2: up to 256 chunks). */
  readonly treeDepth?: number;
  /** Development ptau power every key shares (default 16). */
  readonly ptauPower?: number;
  /** Noise limits of the dp circuits (default 1024 coins, scale up to 2^16). */
  readonly noise?: { readonly maxCoins: number; readonly maxScaleBits: number };
  /** Where keys, the generated file and the service state live (default `.zktally/start`). */
  readonly cacheDir?: string;
  /** Port to listen on (default `ZKTALLY_PORT` or 0: any free port). */
  readonly port?: number;
  /** Keep serving after the tour until SIGINT/SIGTERM (default true). */
  readonly serve?: boolean;
  readonly write?: (line: string) => void;
}

/** One answer of the tour: who asked what, and what its verified bundle proves. */
export interface TourAnswer extends VerifiedAnswer {
  readonly label: string;
  readonly partner: string;
  readonly query: unknown;
}

/** The tour's pass (the histogram). */
export interface TourPass extends VerifiedPass {
  readonly label: string;
  readonly partner: string;
}

export interface MainJobResult {
  readonly url: string;
  readonly server: RunningServer;
  readonly schema: Schema;
  /** The committed records, encoded (what the reference evaluator takes). */
  readonly records: readonly (readonly bigint[])[];
  /** The single queries' answers, in tour order. */
  readonly answers: readonly TourAnswer[];
  /** The passes' answers (the histogram). */
  readonly passes: readonly TourPass[];
}

/**
 * The served circuit: 16 record slots of 8 fields x 32 bits, 3 clauses of up to 4 constants. A small
 * single-instance circuit (the datasets of the tour are chunked); its C and M fix the chain circuits' slots.
 */
export const START_SHAPE: AggregateShape = makeShape({
  capacity: 16,
  fields: 8,
  width: 32,
  clauses: 3,
  setSize: 4,
  leafRecords: 4,
  arity: 4,
});

const EXACT_PARTNER = "wmde";
const DP_PARTNER = "wmf-research";
const MIN_GROUP_SIZE = 5;
const FIELDS = ["wiki", "country", "activity", "edits", "registered", "bot"];

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^[0-9]+$/.test(raw))
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function serviceConfig(options: MainJobOptions, cacheDir: string): ServiceConfig {
  return parseServiceConfig({
    dataDir: join(cacheDir, "service"),
    keysDir: join(cacheDir, "keys"),
    circuit: circuitId(START_SHAPE),
    mode: "development",
    host: "127.0.0.1",
    port: options.port ?? envInt("ZKTALLY_PORT", 0),
    logLevel: "warn",
    requestTimeoutMs: 600_000,
    chunks: {
      size: options.chunkSize ?? envInt("ZKTALLY_START_CHUNK_SIZE", 32),
      treeDepth: options.treeDepth ?? 2,
    },
    noise: options.noise ?? { maxCoins: 1024, maxScaleBits: 16 },
    // One histogram per pass, G = 4 cells (the 3 activity levels).
    pass: { queries: 1, histogramSlots: 1, cells: 4 },
  });
}

type TourStep =
  | { readonly label: string; readonly partner: string; readonly query: unknown }
  | { readonly label: string; readonly partner: string; readonly pass: readonly unknown[] };

/** The tour, in order: who asks what. */
function tourSteps(): TourStep[] {
  const human = { field: "bot", op: "eq", value: false };
  const count = (predicate: unknown[]) => ({ predicate, aggregate: { kind: "count" } });
  return [
    {
      label: "count",
      partner: EXACT_PARTNER,
      query: count([
        { field: "wiki", op: "in", value: ["dewiki", "frwiki"] },
        { field: "registered", op: "gte", value: "2015-01-01" },
        human,
      ]),
    },
    {
      label: "histogram",
      partner: EXACT_PARTNER,
      pass: [{ predicate: [human], aggregate: { kind: "histogram", by: ["activity"] } }],
    },
    {
      label: "small group",
      partner: EXACT_PARTNER,
      query: count([{ field: "country", op: "eq", value: RARE_COUNTRY }]),
    },
    { label: "noisy count", partner: DP_PARTNER, query: count([human]) },
  ];
}

async function registerPartners(admin: AdminOps): Promise<Record<string, PartnerCredentials>> {
  const scopes = ["datasets:read", "queries:submit"];
  const common = { datasets: [START_DATASET], fields: FIELDS, aggregates: ["count"] };
  const exact = await admin.createPartner(null, randomUUID(), {
    clientId: EXACT_PARTNER,
    scopes,
    policy: { ...common, aggregates: ["count", "histogram"], minGroupSize: MIN_GROUP_SIZE },
  });
  const dp = await admin.createPartner(null, randomUUID(), {
    clientId: DP_PARTNER,
    scopes,
    policy: {
      ...common,
      mode: "dp",
      dp: { epsilon: 1, delta: 1e-6 },
      privacyBudget: { epsilon: 10, delta: 1e-4 },
    },
  });
  return {
    [EXACT_PARTNER]: { clientId: EXACT_PARTNER, clientSecret: exact.clientSecret },
    [DP_PARTNER]: { clientId: DP_PARTNER, clientSecret: dp.clientSecret },
  };
}

/** Writes the generated dataset file and reads it back as the reference evaluator's records. */
async function generateDataset(cacheDir: string, count: number) {
  const file = join(cacheDir, `geoeditors-${count}.csv`);
  writeFileSync(file, generateGeoeditorsCsv(count));
  const schema = parseSchema(GEOEDITORS_SCHEMA);
  return { file, schema, records: (await loadDataset(file, schema)).records };
}

/**
 * The served circuit's development keys (cached): every chain key later pinned next to it shares the ptau.
 * When the circuit sources changed since the cache was built (a pin mismatch), the whole keys directory is
 * stale, chain keys included: it is removed and rebuilt (development keys only, never production ones).
 */
async function ensureServedKeys(config: ServiceConfig, ptauPower: number, write: (line: string) => void) {
  const build = async () =>
    buildDevKeys([await ensureMainFile(START_SHAPE)], {
      keysDir: config.keysDir,
      minPtauPower: ptauPower,
      progress: consoleProgress({ write }),
    });
  try {
    await build();
  } catch (error) {
    if (
      !(error instanceof PinMismatchError) ||
      (await readKeysManifest(config.keysDir))?.insecure === false
    ) {
      throw error;
    }
    write(`circuit sources changed since ${config.keysDir} was built: rebuilding its development keys`);
    rmSync(config.keysDir, { recursive: true, force: true });
    await build();
  }
}

async function startService(config: ServiceConfig, cacheDir: string, write: (line: string) => void) {
  rmSync(config.dataDir, { recursive: true, force: true });
  const logDestination = createWriteStream(join(cacheDir, "service.log"), { flags: "a" });
  (await initService(config, { logDestination })).close();
  return startServer(config, { logDestination, keyProgress: consoleProgress({ write }) });
}

/** Asks one step as its partner; writes the bundle to `file`. */
async function askStep(
  client: PartnerClient,
  step: TourStep,
  file: string,
  write: (line: string) => void,
): Promise<TourAnswer | TourPass> {
  write(`[${step.partner}] asks: ${step.label}`);
  const progress = (line: string) => write(`  ${line}`);
  const started = performance.now();
  const took = () =>
    `(asked, proven, downloaded and verified in ${((performance.now() - started) / 1000).toFixed(1)} s)`;
  if ("pass" in step) {
    const verified = await client.askPass(START_DATASET, step.pass, progress);
    writeFileSync(file, verified.text);
    write(
      `${verified.statements.map((statement) => `  VERIFIED ${statement}`).join("\n")}\n  bundle: ${file} ${took()}`,
    );
    return { ...verified, label: step.label, partner: step.partner };
  }
  const answer = await client.ask(START_DATASET, step.query, progress);
  writeFileSync(file, answer.text);
  write(`  VERIFIED ${answer.statement}\n  bundle: ${file} ${took()}`);
  return { ...answer, label: step.label, partner: step.partner, query: step.query };
}

async function askAll(
  url: string,
  partners: Record<string, PartnerCredentials>,
  bundleDir: string,
  write: (line: string) => void,
): Promise<(TourAnswer | TourPass)[]> {
  mkdirSync(bundleDir, { recursive: true });
  const clients = new Map<string, PartnerClient>();
  const results: (TourAnswer | TourPass)[] = [];
  for (const step of tourSteps()) {
    let client = clients.get(step.partner);
    if (client === undefined) {
      client = await PartnerClient.connect(url, partners[step.partner] as PartnerCredentials);
      clients.set(step.partner, client);
    }
    const file = join(bundleDir, `${results.length + 1}-${step.label.replace(/[^a-z0-9]+/gi, "-")}.json`);
    results.push(await askStep(client, step, file, write));
  }
  return results;
}

/** Runs the tour (see the module comment); the returned server is still running. */
export async function runMainJob(options: MainJobOptions = {}): Promise<MainJobResult> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const cacheDir = options.cacheDir ?? join(DATA_DIR, "start");
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const config = serviceConfig(options, cacheDir);
  const count = options.records ?? envInt("ZKTALLY_START_RECORDS", 2048);
  const { file, schema, records } = await generateDataset(cacheDir, count);
  write(`generated ${count} synthetic editors: ${file}`);
  await ensureServedKeys(config, options.ptauPower ?? 16, write);
  const server = await startService(config, cacheDir, write);
  try {
    const admin = new AdminOps(server.ctx);
    write(
      `committing ${START_DATASET} in chunks of ${config.chunks.size} (first run: builds the chain keys)`,
    );
    const dataset = await admin.registerDatasetFile(
      null,
      randomUUID(),
      { datasetId: START_DATASET, schema: GEOEDITORS_SCHEMA, chunked: true },
      file,
    );
    write(`committed ${START_DATASET} epoch ${dataset.epoch}: ${count} records`);
    const partners = await registerPartners(admin);
    const results = await askAll(server.url, partners, join(cacheDir, "bundles"), write);
    const answers = results.filter((result): result is TourAnswer => "query" in result);
    const passes = results.filter((result): result is TourPass => "statements" in result);
    return { url: server.url, server, schema, records, answers, passes };
  } catch (error) {
    await server.close();
    throw error;
  }
}

/** `npm start`: the tour, then the verify page URL, serving until SIGINT/SIGTERM. */
export async function startCommand(options: MainJobOptions = {}): Promise<number> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = performance.now();
  const result = await runMainJob({ ...options, write });
  write(
    `all ${result.answers.length} answers verified (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  write(`browser verification page: ${result.url}/verify (drop one of the bundle files above on it)`);
  if (options.serve === false || process.env.ZKTALLY_START_EXIT === "1") {
    await result.server.close();
    return 0;
  }
  write("serving; Ctrl-C stops");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await result.server.close();
  return 0;
}
