/**
 * @module cli/commands/prove
 *
 * `zktally prove --query FILE|JSON [--id ID] [--config FILE] [--epoch N] [--nonce N] [--min-group K]
 * [--out FILE] [--json] [--dev] [service options]`: the operator asks its own question of a dataset that
 * `zktally commit` put in the service's data directory, without running the service. The query goes through
 * the service's parsing (names hashed, canonical form, lowering for the served circuit), is proven with the
 * pinned keys by the same library functions the service's runner uses (`proveQuery` for a dataset that fits
 * one instance, `proveChain` for a chunked one), and the bundle is written in the format `zktally verify`
 * checks.
 *
 * Policy: there is no partner, so no partner policy (fields, aggregates, budget) applies; the proven
 * minimum group size does, picked by the service's own rule (`minGroupSizeFor`) from `--min-group K`
 * (default: the service's default policy's). The nonce is drawn like the partner client's when not given.
 *
 * Security caveats: the bundle holds no record, salt or secret (the prover functions guarantee it); with
 * INSECURE development keys (`--dev`) whoever ran their setup can forge proofs, and `zktally verify` refuses
 * the bundle without `--allow-insecure-keys`.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { shapeFromId } from "../../circuits/shape.ts";
import { FIELD_ORDER } from "../../core/field.ts";
import { createProverBackend } from "../../prover/backends.ts";
import { makeBundle, serializeBundle } from "../../prover/bundle.ts";
import { proveChain } from "../../prover/prove-chain.ts";
import { proveQuery } from "../../prover/prove-query.ts";
import { proverBackendName, resolveProverChoice } from "../../prover/prover-choice.ts";
import { canonicalQuery } from "../../query/canonical.ts";
import { QueryError } from "../../query/errors.ts";
import type { Query } from "../../query/model.ts";
import { hashNamedKeys } from "../../query/named-keys.ts";
import { chainCircuitIds, pinnedChainCircuits } from "../../service/chunk-circuits.ts";
import { configFromSources, type ServiceConfig } from "../../service/config.ts";
import type { StoredDataset } from "../../service/datasets.ts";
import { dominanceShareFor, minGroupSizeFor, parsePolicy } from "../../service/policy.ts";
import { type OpenedService, openService } from "../../service/server.ts";
import { readKeysManifest } from "../../setup/keys-manifest.ts";
import { InputError, isZktallyError } from "../../util/errors.ts";
import { consoleProgress } from "../../util/progress.ts";
import type { ProofBundle } from "../../verifier/bundle.ts";
import type { ChainBundle } from "../../verifier/chain-bundle.ts";
import { UsageError } from "../command.ts";
import { readDatasetConfig } from "../config-file.ts";
import { ensureDevKeys } from "../dev-keys.ts";
import { randomNonce } from "../query-client.ts";
import { queryArgument, querySource } from "../query-command.ts";
import { configOptions } from "./serve.ts";

export interface ProveOptions {
  readonly query: string;
  readonly id?: string;
  readonly config: string;
  readonly epoch?: string;
  readonly nonce?: string;
  readonly minGroup?: string;
  readonly out?: string;
  readonly json?: boolean;
  readonly dev?: boolean;
}

/** The proof of one query, whichever form the dataset takes. */
type ProvenBundle = ProofBundle | ChainBundle;

/** A canonical decimal field element below r, as the verifier compares nonces. */
function nonceOf(text: string | undefined): bigint {
  if (text === undefined) return BigInt(randomNonce());
  if (!/^(0|[1-9][0-9]*)$/.test(text) || BigInt(text) >= FIELD_ORDER) {
    throw new UsageError(`--nonce ${text}: expected a canonical decimal integer below the field order r`);
  }
  return BigInt(text);
}

function integerFlag(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${flag} ${text}: expected an integer >= ${min}`);
  }
  return value;
}

/**
 * The served circuit's keys must be pinned; `--dev` builds INSECURE development keys for it when they are
 * missing (a keys directory of production keys is never touched).
 */
async function ensureProvingKeys(config: ServiceConfig, dev: boolean): Promise<void> {
  const pinned = await readKeysManifest(config.keysDir);
  if (pinned?.circuits[config.circuit] !== undefined) return;
  if (dev) {
    await ensureDevKeys(shapeFromId(config.circuit), config.keysDir, consoleProgress({ tag: "zktally" }));
    return;
  }
  throw new InputError("keys_missing", `no keys for circuit ${config.circuit} in ${config.keysDir}`, {
    path: config.keysDir,
    hint: `make them with zktally setup --ptau FILE (production), zktally setup --dev (INSECURE development keys), or pass --dev to build development keys here`,
  });
}

/** Opens the data directory `zktally commit` wrote; an uninitialised one is refused with the command to run. */
async function openCommitted(config: ServiceConfig): Promise<OpenedService> {
  try {
    return await openService(config);
  } catch (error) {
    if (!(isZktallyError(error) && error.code === "not_initialised")) throw error;
    throw new InputError("not_committed", error.message, {
      path: config.dataDir,
      hint: `commit a dataset first: zktally commit --init --data-dir ${config.dataDir} (after zktally init SAMPLE.csv)`,
    });
  }
}

/** The committed epoch asked: `--id` or the config file's dataset, `--epoch` or the latest. */
async function datasetAsked(opened: OpenedService, options: ProveOptions): Promise<StoredDataset> {
  const datasetId = options.id ?? (await readDatasetConfig(options.config)).datasetId;
  const stored = opened.ctx.datasets.answerable(datasetId, integerFlag(options.epoch, "--epoch", 1));
  if (stored !== undefined) return stored;
  const dataDir = opened.ctx.config.dataDir;
  throw new InputError(
    "not_committed",
    `dataset ${datasetId}${options.epoch === undefined ? "" : ` epoch ${options.epoch}`} is not committed in ${dataDir}`,
    { path: dataDir, hint: `commit it first: zktally commit --id ${datasetId} --data-dir ${dataDir}` },
  );
}

/** The query as the service reads it (names hashed, canonical); a problem names the `--query` file first. */
function parseQueryFor(json: unknown, stored: StoredDataset, opened: OpenedService, source: string): Query {
  const { schema } = stored.manifest;
  try {
    const named = hashNamedKeys(json, schema, () =>
      opened.ctx.datasets.stringKeyHasher(stored.datasetId, stored.epoch),
    );
    return canonicalQuery(named.query, schema);
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    throw new InputError(error.code, `${source}: ${error.message}`, { path: error.path });
  }
}

/** Proves the query over the stored epoch with one in-process prover (single instance or chain). */
async function proveStored(
  opened: OpenedService,
  stored: StoredDataset,
  request: { query: Query; nonce: bigint; minGroupSize: number; dominanceShare: number },
): Promise<ProvenBundle> {
  const { config, circuit, datasets } = opened.ctx;
  const engine = resolveProverChoice(config.jobs.prover, (line) => process.stderr.write(`${line}\n`));
  const backend = createProverBackend(proverBackendName(engine, "in-process"), {
    keysDir: config.keysDir,
    buildDir: config.buildDir,
  });
  try {
    if (stored.manifest.version !== 2) {
      const dataset = await datasets.loadCommitted(stored.datasetId, stored.epoch);
      const proof = await proveQuery(backend, { ...request, dataset, shape: circuit.shape });
      return makeBundle(proof, dataset.manifest, circuit.vkeyHash);
    }
    const dataset = await datasets.loadChunked(stored.datasetId, stored.epoch);
    const { schema, layout } = dataset.manifest;
    const chain = await pinnedChainCircuits(config, chainCircuitIds(schema, layout, circuit.shape));
    return await proveChain({
      ...request,
      manifest: dataset.manifest,
      committed: dataset.committed,
      records: dataset.records,
      querySlots: { clauses: circuit.shape.clauses, setSize: circuit.shape.setSize },
      prover: backend,
      vkeyHashes: { chunk: chain.chunkVkeyHash, final: chain.finalVkeyHash },
    });
  } finally {
    await backend.close();
  }
}

/** What the bundle states, for the terminal or `--json`. */
function summaryOf(bundle: ProvenBundle) {
  const { statement, answer, minGroupSize, nonce } = bundle;
  return { statement, answer, minGroupSize, nonce };
}

function report(bundle: ProvenBundle, out: string, operatorKey: string, config: ServiceConfig): string {
  const { statement, answer, minGroupSize, nonce } = summaryOf(bundle);
  const insecure = config.mode === "development" ? " --allow-insecure-keys" : "";
  return [
    `proved: ${statement}`,
    `  answer     ${JSON.stringify(answer)}`,
    `  min group  ${minGroupSize} (answers about fewer records, or all but fewer, are suppressed)`,
    `  nonce      ${nonce}`,
    `  bundle     ${out}`,
    `check it: zktally verify ${out} --keys ${config.keysDir} --operator-key ${operatorKey}${insecure}`,
    "",
  ].join("\n");
}

export async function runProve(options: ProveOptions, serviceArgs: string[]): Promise<number> {
  const { values } = parseArgs({
    args: serviceArgs,
    options: configOptions,
    strict: true,
    allowPositionals: false,
  });
  const json = await queryArgument(options.query);
  const nonce = nonceOf(options.nonce);
  const minGroup = integerFlag(options.minGroup, "--min-group", 0);
  const config = {
    ...configFromSources({ ...values, ...(options.dev ? { dev: true } : {}) }),
    logLevel: "warn" as const,
  };
  await ensureProvingKeys(config, options.dev === true);
  const opened = await openCommitted(config);
  try {
    if (opened.ctx.circuit.insecure && config.mode !== "development") {
      throw new InputError(
        "insecure_keys",
        `the keys of circuit ${config.circuit} are INSECURE development keys`,
        {
          path: config.keysDir,
          hint: "pass --dev to prove with them anyway (a demo or test only), or make production keys with zktally setup --ptau FILE",
        },
      );
    }
    const stored = await datasetAsked(opened, options);
    const query = parseQueryFor(json, stored, opened, querySource(options.query));
    // The operator's own question: no partner policy, but the service's rule for the proven group size.
    const policy = parsePolicy(minGroup === undefined ? {} : { minGroupSize: minGroup });
    const minGroupSize = minGroupSizeFor(query, policy);
    const dominanceShare = dominanceShareFor(query, policy);
    const bundle = await proveStored(opened, stored, { query, nonce, minGroupSize, dominanceShare });
    const out = options.out ?? `${stored.datasetId}-${stored.epoch}.bundle.json`;
    await writeFile(out, serializeBundle(bundle).text);
    const operatorKey = opened.ctx.operatorKey;
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ bundle: out, operatorKey, ...summaryOf(bundle) })}\n`
        : report(bundle, out, operatorKey, config),
    );
    return 0;
  } finally {
    opened.close();
  }
}
