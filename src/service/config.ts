/**
 * @module service/config
 *
 * Configuration of `zktally serve`, validated with zod at boot: every value comes from a command-line flag,
 * else an environment variable, else a default (see `CONFIG_SOURCES`), and the whole object is checked before
 * anything is opened, so a typo fails the boot with the name of the offending setting instead of running with
 * a surprising default.
 *
 * Security caveats: the service binds to 127.0.0.1 unless told otherwise; TLS, when configured, refuses
 * anything below TLS 1.3; `trustProxy` is off by default so `X-Forwarded-For` cannot spoof the per-IP limits.
 * Secret material never lives in the configuration: only paths to it (key file, TLS key).
 */

import path from "node:path";
import { z } from "zod";
import { circuitId } from "../circuits/shape.ts";
import { DATA_DIR, DEFAULT_SHAPE, KEYS_DIR } from "../config/defaults.ts";
import { isCanonicalDecimal } from "../core/field.ts";
import { DEFAULT_CHUNK_SIZE, DEFAULT_TREE_DEPTH } from "../dataset/chunk-layout.ts";
import { DEFAULT_PREFIX, PREFIX_PATTERN } from "../distributed/protocol.ts";
import { DEFAULT_NOISE_LIMITS } from "../prover/prove-noisy-chain.ts";
import { PROVER_CHOICES } from "../prover/prover-choice.ts";
import { RISK_LIST_NAME, riskListJsonSchema } from "../release/risk.ts";
import { InputError } from "../util/errors.ts";
import { firstIssueInWords } from "../util/zod-issues.ts";

const limitSchema = z.strictObject({
  /** Length of one fixed window. */
  windowMs: z.int().min(100).max(86_400_000),
  /** Requests allowed per key (client or IP) and window. */
  max: z.int().min(1).max(1_000_000),
});

const jobsSchema = z.strictObject({
  /** How long a claimed job stays leased without a heartbeat; a crashed worker's job is re-queued after it. */
  leaseMs: z.int().min(500).max(3_600_000).default(30_000),
  /** Attempts (claims) before a job that keeps crashing is failed. */
  maxAttempts: z.int().min(1).max(20).default(3),
  /** Jobs proven at once in this process; 0 = accept jobs but prove none (another instance proves). */
  concurrency: z.int().min(0).max(8).default(1),
  /** Prover processes in the local pool; a job's chunks are proven on them in parallel. */
  provers: z.int().min(1).max(64).default(1),
  /** How often an idle worker looks for work (it is also woken on every submission). */
  pollMs: z.int().min(10).max(60_000).default(500),
  /** Queued or running jobs one partner may have. */
  maxQueuedPerPartner: z.int().min(1).max(10_000).default(32),
  /** Queued or running jobs in total. */
  maxQueued: z.int().min(1).max(1_000_000).default(1_000),
  /** Graceful shutdown waits this long for a running proof before re-queueing it. */
  drainTimeoutMs: z.int().min(0).max(600_000).default(20_000),
  /** Delay before a transiently failed job is retried. */
  retryDelayMs: z.int().min(0).max(600_000).default(1_000),
  /** Scheduling niceness of the prover process (0..19): proofs take idle CPU, requests stay fast. */
  proverNice: z.int().min(0).max(19).default(10),
  /** Which prover the prover processes run: native (default when built, docs/prover.md) or snarkjs. */
  prover: z.enum(PROVER_CHOICES).optional(),
});

/**
 * `production` (default) refuses to serve keys the keys manifest marks insecure; `development` serves them
 * (and says so in the log and `/v1/circuits`): the demo and tests, never partners who rely on the proofs.
 */
export const SERVICE_MODES = ["production", "development"] as const;

/** Distributed proving: with `redis`, chunk proofs go to `zktally worker` processes over BullMQ. */
const redisSchema = z.strictObject({
  /** redis:// or rediss:// URL of the queue (may carry a password: never logged). */
  url: z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL"),
  /** Key prefix shared with the workers (one per deployment or test run). */
  prefix: z.string().regex(PREFIX_PATTERN).default(DEFAULT_PREFIX),
  /** Key file (KeyRing) sealing witness inputs for the workers; default `<dataDir>/worker-keyring.json`. */
  workerKeyFile: z.string().min(1).optional(),
  /** BullMQ attempts per chunk for transient worker failures. */
  chunkAttempts: z.int().min(1).max(20).default(3),
});

/**
 * Layout of chunked (v2) datasets registered without one of their own: a dataset larger than one instance
 * of the served circuit, or registered with `chunked: true`, is committed in chunks of `size` records.
 */
const chunksSchema = z.strictObject({
  /** S: records per chunk proof (power of two, design.md 7.1). */
  size: z.int().min(1).max(65_536).default(DEFAULT_CHUNK_SIZE),
  /** K: depth of the 16-ary dataset tree over chunks (16^K chunks at most). */
  treeDepth: z.int().min(1).max(8).default(DEFAULT_TREE_DEPTH),
  /** B: records per leaf; default the largest the schema allows. */
  leafRecords: z.int().min(1).max(65_536).optional(),
});

/**
 * Limits of the noisy final circuit dp answers are proven with (design.md 8, docs/privacy.md): NMAX coins and
 * JMAX scale bits (s = 2^j). They fix its circuit id; the default takes epsilon >= about 0.11 at delta = 1e-9.
 */
const noiseSchema = z.strictObject({
  maxCoins: z.int().min(2).max(65_535).default(DEFAULT_NOISE_LIMITS.maxCoins),
  maxScaleBits: z.int().min(1).max(64).default(DEFAULT_NOISE_LIMITS.maxScaleBits),
});

/**
 * Pass queries (POST /v1/passes, design.md section 9): the query slots Q, histogram slots H and cells per
 * histogram G of the pass circuits (clause slots and set size: the served circuit's). Off when absent: chunked
 * registrations then announce no pass circuits. They fix the pass circuits' ids.
 */
const passSchema = z
  .strictObject({
    queries: z.int().min(1).max(16).default(4),
    histogramSlots: z.int().min(0).max(16).default(1),
    cells: z
      .int()
      .min(2)
      .max(1024)
      .refine((g) => (g & (g - 1)) === 0, "must be a power of two")
      .default(16),
    /**
     * Noisy histogram cells for dp partners (docs/privacy.md "Noisy histograms through the service"): NMAX
     * coins and JMAX scale bits of the PassFinalNoisy every chunked manifest then announces for the served
     * pass shape. Off when absent: dp partners' passes are refused.
     */
    dp: z
      .strictObject({
        maxCoins: z.int().min(2).max(65_535).default(4096),
        maxScaleBits: z.int().min(1).max(8).default(2),
      })
      .optional(),
  })
  .refine((pass) => pass.histogramSlots <= pass.queries, {
    message: "histogramSlots must be at most queries",
    path: ["histogramSlots"],
  })
  .refine((pass) => pass.dp === undefined || pass.histogramSlots > 0, {
    message: "dp histograms need histogram slots (histogramSlots >= 1)",
    path: ["dp"],
  });

/** A positive, finite epsilon or a delta in (0, 1) of the release budget. */
const epsilonSchema = z.number().positive().max(1_000_000);
const deltaSchema = z.number().positive().lt(1);

/**
 * Geoeditors-style releases (POST /v1/admin/datasets/{id}/releases, docs/privacy.md "Releases"): the field
 * names (enums of the schema), wiki tables per pass H and the noisy final's NMAX and JMAX fix the release
 * circuits every chunked manifest of a schema with those fields announces; `budget` is the operator's
 * release budget per dataset epoch (every country's releases compose sequentially up to it). Off when absent.
 */
export const releaseConfigSchema = z.strictObject({
  fields: z
    .strictObject({
      wiki: z.string().min(1).default("wiki"),
      country: z.string().min(1).default("country"),
      activity: z.string().min(1).default("activity"),
    })
    .default({ wiki: "wiki", country: "country", activity: "activity" }),
  tablesPerPass: z.int().min(1).max(16).default(1),
  maxCoins: z.int().min(2).max(65_535).default(4096),
  maxScaleBits: z.int().min(1).max(8).default(2),
  budget: z.strictObject({ epsilon: epsilonSchema, delta: deltaSchema }),
  /** Risk lists a release may name instead of giving one (name -> the JSON form of release/risk.ts). */
  riskLists: z.record(z.string().regex(RISK_LIST_NAME), riskListJsonSchema).default({}),
});

export const serviceConfigSchema = z.strictObject({
  mode: z.enum(SERVICE_MODES).default("production"),
  /** Directory holding the SQLite database (and, by default, the key file); created with mode 0700. */
  dataDir: z.string().min(1),
  host: z.string().min(1).default("127.0.0.1"),
  port: z.int().min(0).max(65_535).default(8443),
  tls: z.strictObject({ certPath: z.string().min(1), keyPath: z.string().min(1) }).optional(),
  /** Key file of the storage KeyRing; default `<dataDir>/keyring.json`. */
  keyFile: z.string().min(1).optional(),
  /** Directory of the pinned keys manifest and verification keys. */
  keysDir: z.string().min(1).default(KEYS_DIR),
  /** Build cache holding compiled circuits and zkeys (default `ZKTALLY_BUILD_DIR` or `<repo>/build`). */
  buildDir: z.string().min(1).optional(),
  /** The circuit shape id this service proves with (datasets are committed under its layout). */
  circuit: z.string().min(1).default(circuitId(DEFAULT_SHAPE)),
  issuer: z.string().min(1).max(256).default("urn:zktally:service"),
  audience: z.string().min(1).max(256).default("zktally-api"),
  tokenTtlSeconds: z.int().min(10).max(3_600).default(300),
  /** Clock skew tolerated when checking token times. */
  clockToleranceSeconds: z.int().min(0).max(300).default(5),
  /** Per authenticated client. */
  rateLimit: limitSchema.default({ windowMs: 60_000, max: 600 }),
  /** Per IP address, on `POST /oauth/token` (credential guessing). */
  tokenRateLimit: limitSchema.default({ windowMs: 60_000, max: 30 }),
  bodyLimitBytes: z
    .int()
    .min(256)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** Admin dataset uploads carry records; they get their own, larger limit. */
  adminBodyLimitBytes: z
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(8 * 1024 * 1024),
  /** Whole-request limit (headers and body) and handler deadline. */
  requestTimeoutMs: z.int().min(500).max(600_000).default(15_000),
  /** log2 of the scrypt cost N for client secrets (r = 8, p = 1). */
  scryptLogN: z.int().min(12).max(20).default(15),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * Identical refusals (same partner, action and code) are audited once per window; the next entry after
   * the window counts the dropped ones (`suppressed`), so refusals cannot grow the log without bound.
   * 0 audits every refusal.
   */
  auditRefusalWindowMs: z.int().min(0).max(86_400_000).default(60_000),
  /** Express `trust proxy` (only behind a known reverse proxy; otherwise clients could spoof their IP). */
  trustProxy: z.boolean().default(false),
  /** Epochs of each dataset kept answerable (the newest ones); older epochs are crypto-shredded. */
  retainEpochs: z.int().min(1).max(10_000).default(12),
  /**
   * Erasure requests are applied once this many are pending for a dataset (exact-mode mitigation of
   * erasure differencing, docs/operations.md); 1 applies each at once.
   */
  erasureBatch: z.int().min(1).max(10_000).default(5),
  jobs: jobsSchema.default(jobsSchema.parse({})),
  chunks: chunksSchema.default(chunksSchema.parse({})),
  noise: noiseSchema.default(noiseSchema.parse({})),
  pass: passSchema.optional(),
  release: releaseConfigSchema.optional(),
  redis: redisSchema.optional(),
});

export type ServiceConfig = z.infer<typeof serviceConfigSchema>;
export type ServiceConfigInput = z.input<typeof serviceConfigSchema>;

/** A configuration value is missing or invalid; `field` names it (dotted path). */
export class ConfigError extends InputError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super("invalid_config", `invalid configuration ${field}: ${reason}`, { path: field });
  }
}

/** Validates a configuration object; throws `ConfigError` naming the first bad field. */
export function parseServiceConfig(input: unknown): ServiceConfig {
  const result = serviceConfigSchema.safeParse(input);
  if (!result.success) {
    const { path, reason } = firstIssueInWords(result.error.issues);
    throw new ConfigError(path || "(root)", reason);
  }
  const config = result.data;
  return { ...config, dataDir: path.resolve(config.dataDir) };
}

/** The key file actually used. */
export function keyFileOf(config: ServiceConfig): string {
  return path.resolve(config.keyFile ?? path.join(config.dataDir, "keyring.json"));
}

/** The workers' key file (only used with `redis`). */
export function workerKeyFileOf(config: ServiceConfig): string {
  return path.resolve(config.redis?.workerKeyFile ?? path.join(config.dataDir, "worker-keyring.json"));
}

/** Where chunked datasets are stored (one encrypted chunk store per dataset epoch). */
export function chunkStoreRootOf(config: ServiceConfig): string {
  return path.join(config.dataDir, "chunk-store");
}

/** The SQLite database file. */
export function databaseFileOf(config: ServiceConfig): string {
  return path.join(config.dataDir, "zktally.db");
}

type Kind = "string" | "int" | "number" | "bool";

/** One setting: its flag (without `--`), environment variable, path in the config object and type. */
export interface ConfigSource {
  readonly flag: string;
  readonly env: string;
  readonly path: readonly string[];
  readonly kind: Kind;
  readonly help: string;
}

const source = (flag: string, env: string, dotted: string, kind: Kind, help: string): ConfigSource => ({
  flag,
  env,
  path: dotted.split("."),
  kind,
  help,
});

export const CONFIG_SOURCES: readonly ConfigSource[] = [
  source(
    "mode",
    "ZKTALLY_MODE",
    "mode",
    "string",
    "production (default) or development (serves INSECURE keys)",
  ),
  source("data-dir", "ZKTALLY_DATA_DIR", "dataDir", "string", "state directory (database, key file)"),
  source("host", "ZKTALLY_HOST", "host", "string", "listen address (default 127.0.0.1)"),
  source("port", "ZKTALLY_PORT", "port", "int", "listen port (0 = any free port; default 8443)"),
  source("tls-cert", "ZKTALLY_TLS_CERT", "tls.certPath", "string", "PEM certificate chain (enables TLS 1.3)"),
  source("tls-key", "ZKTALLY_TLS_KEY", "tls.keyPath", "string", "PEM private key for --tls-cert"),
  source(
    "key-file",
    "ZKTALLY_KEY_FILE",
    "keyFile",
    "string",
    "storage key file (default <data-dir>/keyring.json)",
  ),
  source("keys-dir", "ZKTALLY_KEYS_DIR", "keysDir", "string", "pinned verification keys directory"),
  source("build-dir", "ZKTALLY_BUILD_DIR", "buildDir", "string", "circuit/zkey cache directory"),
  source("circuit", "ZKTALLY_CIRCUIT", "circuit", "string", "circuit shape id to prove with"),
  source("issuer", "ZKTALLY_ISSUER", "issuer", "string", "JWT issuer"),
  source("audience", "ZKTALLY_AUDIENCE", "audience", "string", "JWT audience"),
  source("token-ttl", "ZKTALLY_TOKEN_TTL", "tokenTtlSeconds", "int", "access token lifetime in seconds"),
  source("rate-limit", "ZKTALLY_RATE_LIMIT", "rateLimit.max", "int", "requests per client and window"),
  source("rate-window-ms", "ZKTALLY_RATE_WINDOW_MS", "rateLimit.windowMs", "int", "rate-limit window"),
  source(
    "token-rate-limit",
    "ZKTALLY_TOKEN_RATE_LIMIT",
    "tokenRateLimit.max",
    "int",
    "token requests per IP",
  ),
  source("body-limit", "ZKTALLY_BODY_LIMIT", "bodyLimitBytes", "int", "request body limit in bytes"),
  source("admin-body-limit", "ZKTALLY_ADMIN_BODY_LIMIT", "adminBodyLimitBytes", "int", "admin body limit"),
  source("request-timeout-ms", "ZKTALLY_REQUEST_TIMEOUT_MS", "requestTimeoutMs", "int", "request deadline"),
  source("scrypt-log-n", "ZKTALLY_SCRYPT_LOG_N", "scryptLogN", "int", "log2 scrypt cost for client secrets"),
  source("log-level", "ZKTALLY_LOG_LEVEL", "logLevel", "string", "pino log level"),
  source("trust-proxy", "ZKTALLY_TRUST_PROXY", "trustProxy", "bool", "trust X-Forwarded-For"),
  source(
    "retain-epochs",
    "ZKTALLY_RETAIN_EPOCHS",
    "retainEpochs",
    "int",
    "epochs kept answerable per dataset",
  ),
  source("erasure-batch", "ZKTALLY_ERASURE_BATCH", "erasureBatch", "int", "erasures applied in batches of"),
  source("job-lease-ms", "ZKTALLY_JOB_LEASE_MS", "jobs.leaseMs", "int", "job lease (crash recovery delay)"),
  source("workers", "ZKTALLY_WORKERS", "jobs.concurrency", "int", "proofs at once (0 = none here)"),
  source("provers", "ZKTALLY_PROVERS", "jobs.provers", "int", "prover processes in the local pool"),
  source("prover", "ZKTALLY_PROVER", "jobs.prover", "string", "native (default when built) or snarkjs"),
  source("max-attempts", "ZKTALLY_MAX_ATTEMPTS", "jobs.maxAttempts", "int", "claims before a job fails"),
  source(
    "max-queued-per-partner",
    "ZKTALLY_MAX_QUEUED_PER_PARTNER",
    "jobs.maxQueuedPerPartner",
    "int",
    "open jobs per partner (429 beyond)",
  ),
  source(
    "max-queued",
    "ZKTALLY_MAX_QUEUED",
    "jobs.maxQueued",
    "int",
    "open jobs in the service (503 beyond)",
  ),
  source("drain-timeout-ms", "ZKTALLY_DRAIN_TIMEOUT_MS", "jobs.drainTimeoutMs", "int", "shutdown drain time"),
  source("prover-nice", "ZKTALLY_PROVER_NICE", "jobs.proverNice", "int", "prover process niceness (0..19)"),
  source("chunk-size", "ZKTALLY_CHUNK_SIZE", "chunks.size", "int", "records per chunk of chunked datasets"),
  source(
    "chunk-tree-depth",
    "ZKTALLY_CHUNK_TREE_DEPTH",
    "chunks.treeDepth",
    "int",
    "depth of the dataset tree over chunks",
  ),
  source(
    "chunk-leaf-records",
    "ZKTALLY_CHUNK_LEAF_RECORDS",
    "chunks.leafRecords",
    "int",
    "records per leaf of chunked datasets (default: the largest that fits)",
  ),
  source(
    "noise-max-coins",
    "ZKTALLY_NOISE_MAX_COINS",
    "noise.maxCoins",
    "int",
    "coins (NMAX) of the noisy final step dp answers are proven with",
  ),
  source(
    "noise-max-scale-bits",
    "ZKTALLY_NOISE_MAX_SCALE_BITS",
    "noise.maxScaleBits",
    "int",
    "scale bits (JMAX) of the noisy final step",
  ),
  source(
    "pass-queries",
    "ZKTALLY_PASS_QUERIES",
    "pass.queries",
    "int",
    "queries Q per pass (enables pass queries)",
  ),
  source(
    "pass-histogram-slots",
    "ZKTALLY_PASS_HISTOGRAM_SLOTS",
    "pass.histogramSlots",
    "int",
    "histogram slots H of the pass circuits (enables pass queries)",
  ),
  source(
    "pass-cells",
    "ZKTALLY_PASS_CELLS",
    "pass.cells",
    "int",
    "cells G per histogram (enables pass queries)",
  ),
  source(
    "pass-dp-max-coins",
    "ZKTALLY_PASS_DP_MAX_COINS",
    "pass.dp.maxCoins",
    "int",
    "coins (NMAX) of the noisy pass final (enables dp histograms)",
  ),
  source(
    "release-budget-epsilon",
    "ZKTALLY_RELEASE_BUDGET_EPSILON",
    "release.budget.epsilon",
    "number",
    "release budget epsilon per dataset epoch and country (enables releases)",
  ),
  source(
    "release-budget-delta",
    "ZKTALLY_RELEASE_BUDGET_DELTA",
    "release.budget.delta",
    "number",
    "release budget delta per dataset epoch and country (enables releases)",
  ),
  source(
    "release-tables",
    "ZKTALLY_RELEASE_TABLES",
    "release.tablesPerPass",
    "int",
    "wiki tables per release proof (H)",
  ),
  source(
    "release-max-coins",
    "ZKTALLY_RELEASE_MAX_COINS",
    "release.maxCoins",
    "int",
    "coins (NMAX) of the release's noisy final circuit",
  ),
  source("redis", "ZKTALLY_REDIS", "redis.url", "string", "prove on zktally workers over BullMQ at this URL"),
  source("redis-prefix", "ZKTALLY_REDIS_PREFIX", "redis.prefix", "string", "Redis key prefix (with --redis)"),
  source(
    "worker-key-file",
    "ZKTALLY_WORKER_KEY_FILE",
    "redis.workerKeyFile",
    "string",
    "key file sealing inputs for workers (default <data-dir>/worker-keyring.json)",
  ),
];

/**
 * Builds the raw configuration from flags (highest precedence), then environment variables, then the
 * defaults of the schema. Values stay strings until converted here; the result still goes through
 * `parseServiceConfig`.
 */
export function configFromSources(
  flags: Readonly<Record<string, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServiceConfig {
  const raw: Record<string, unknown> = { dataDir: DATA_DIR };
  for (const setting of CONFIG_SOURCES) {
    const value = flags[setting.flag] ?? env[setting.env];
    if (value === undefined || value === "") continue;
    setPath(raw, setting.path, convert(value, setting));
  }
  applyDevFlag(raw, flags.dev);
  fillLimitDefaults(raw, "rateLimit", { windowMs: 60_000, max: 600 });
  fillLimitDefaults(raw, "tokenRateLimit", { windowMs: 60_000, max: 30 });
  return parseServiceConfig(raw);
}

function convert(value: string | boolean, setting: ConfigSource): unknown {
  const where = `--${setting.flag} / ${setting.env}`;
  if (setting.kind === "bool") {
    if (value === true || value === "true" || value === "1") return true;
    if (value === false || value === "false" || value === "0") return false;
    throw new ConfigError(setting.path.join("."), `${where} must be true or false`);
  }
  if (typeof value !== "string") throw new ConfigError(setting.path.join("."), `${where} needs a value`);
  if (setting.kind === "int") {
    if (!isCanonicalDecimal(value, 13)) {
      throw new ConfigError(setting.path.join("."), `${where} must be a non-negative integer, got ${value}`);
    }
    return Number(value);
  }
  if (setting.kind === "number") {
    const number = Number(value);
    if (value.trim() === "" || !Number.isFinite(number)) {
      throw new ConfigError(setting.path.join("."), `${where} must be a number, got ${value}`);
    }
    return number;
  }
  return value;
}

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] = (node[key] as Record<string, unknown> | undefined) ?? {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

/** `--dev` is `--mode development`; it may not contradict an explicit mode. */
function applyDevFlag(raw: Record<string, unknown>, dev: string | boolean | undefined): void {
  if (dev === undefined || dev === false) return;
  if (dev !== true) throw new ConfigError("mode", "--dev takes no value");
  if (raw.mode !== undefined && raw.mode !== "development") {
    throw new ConfigError("mode", `--dev contradicts --mode / ZKTALLY_MODE ${String(raw.mode)}`);
  }
  raw.mode = "development";
}

/** A flag may set only one half of a limit; the other half keeps its default. */
function fillLimitDefaults(
  raw: Record<string, unknown>,
  key: string,
  defaults: Record<string, number>,
): void {
  const value = raw[key] as Record<string, unknown> | undefined;
  if (value !== undefined) raw[key] = { ...defaults, ...value };
}
