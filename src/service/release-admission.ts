/**
 * @module service/release-admission
 *
 * Admission of an admin release (POST /v1/admin/datasets/{datasetId}/releases, docs/privacy.md "Releases"):
 * the dataset epoch must be chunked, commit to a noise seed and announce the release circuits of config
 * `release` for the request's fields; the risk list (given, or named from config `release.riskLists`) must
 * give every country of the schema a tier, and every tier's (epsilon, delta) must be reachable with the
 * release circuit's NMAX coins. The charge is one (epsilon_t, delta_t) per tier, paid by each country of the
 * tier (release-budget.ts). Every check reads the request, the config, the signed manifest and the ledger:
 * public state only, never the records.
 */
import type { AnyManifest } from "../dataset/manifest.ts";
import { planTiers } from "../prover/prove-noisy-pass.ts";
import { type ReleaseCircuitIds, releaseCharges, releaseGroups } from "../release/release.ts";
import { parseRiskList, type RiskListJson } from "../release/risk.ts";
import { ConflictError, InputError, NotFoundError } from "../util/errors.ts";
import { enumValues, type ReleaseFields } from "../verifier/release.ts";
import type { ReleaseSubmission } from "./api-schemas.ts";
import { servedReleaseCircuitIds } from "./chunk-circuits.ts";
import type { ServiceConfig } from "./config.ts";
import type { ServiceContext } from "./context.ts";
import type { TierCharge } from "./release-budget.ts";
import type { AdmittedRelease } from "./releases.ts";

/** The dataset epoch cannot be released by this service (not chunked, no release circuits, releases off). */
export class ReleaseUnavailableError extends ConflictError {
  constructor(message: string) {
    super("release_unavailable", message, {
      hint: "configure releases (config release: --release-budget-epsilon, --release-budget-delta), then register a new epoch of the dataset",
    });
  }
}

/** Config `release`, or `release_unavailable` when this service does not publish releases. */
export function releaseConfigOf(config: ServiceConfig): NonNullable<ServiceConfig["release"]> {
  if (config.release === undefined)
    throw new ReleaseUnavailableError("this service does not publish releases (config release is off)");
  return config.release;
}

/** The release circuits the manifest announces for `fields`; `release_unavailable` otherwise. */
export function releaseCircuitsOf(
  config: ServiceConfig,
  manifest: AnyManifest,
  fields: ReleaseFields,
): ReleaseCircuitIds {
  const release = releaseConfigOf(config);
  const where = `dataset ${manifest.datasetId} epoch ${manifest.epoch}`;
  if (manifest.version !== 2 || manifest.noiseCommitment === undefined)
    throw new ReleaseUnavailableError(`${where} is not a chunked dataset committing to a noise seed`);
  const ids = servedReleaseCircuitIds({ ...release, fields }, manifest.schema, manifest.layout);
  if (ids === undefined) {
    throw new InputError(
      "invalid_release",
      `fields ${fields.wiki}, ${fields.country} and ${fields.activity} must be enum fields of the schema of ${where}`,
      { path: "fields" },
    );
  }
  if (![ids.stepId, ids.finalId].every((id) => manifest.circuits.includes(id)))
    throw new ReleaseUnavailableError(`${where} was committed without the release circuits of these fields`);
  return ids;
}

/** The risk list the request gives or names (named lists: config `release.riskLists`). */
function riskJsonOf(config: NonNullable<ServiceConfig["release"]>, risk: ReleaseSubmission["risk"]) {
  if (typeof risk !== "string") return risk;
  const named = config.riskLists[risk];
  if (named === undefined) {
    throw new InputError("invalid_release", `risk: no risk list named ${JSON.stringify(risk)}`, {
      path: "risk",
      hint: `configured risk lists: ${Object.keys(config.riskLists).join(", ") || "none"}`,
    });
  }
  return named;
}

/** Runs a risk-list or noise-planning step; its error becomes `invalid_release` naming `path`. */
function asInvalidRelease<T>(path: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof Error) || error instanceof InputError) throw error;
    throw new InputError("invalid_release", `${path}: ${error.message}`, { path });
  }
}

/** Admits a validated release request on `datasetId` (see the module comment); refusals are `ZktallyError`s. */
export function admitRelease(
  ctx: ServiceContext,
  datasetId: string,
  body: ReleaseSubmission,
): AdmittedRelease {
  const release = releaseConfigOf(ctx.config);
  const dataset = ctx.datasets.answerable(datasetId, body.epoch);
  if (!dataset)
    throw new NotFoundError(`dataset ${datasetId}${body.epoch === undefined ? "" : ` epoch ${body.epoch}`}`);
  const { manifest } = dataset;
  const fields = body.fields ?? release.fields;
  const ids = releaseCircuitsOf(ctx.config, manifest, fields);
  const riskJson: RiskListJson = riskJsonOf(release, body.risk);
  const countries = enumValues(manifest.schema, fields.country);
  const risk = asInvalidRelease("risk", () => parseRiskList(JSON.stringify(riskJson), countries));
  asInvalidRelease("risk.tiers", () => planTiers(risk.tiers, ids.shape));
  const charges: TierCharge[] = releaseCharges(risk.tiers)
    .map((charge) => ({
      ...charge,
      countries: countries.filter((country) => risk.countryTiers[country] === charge.tier),
    }))
    .filter((charge) => charge.countries.length > 0);
  const wikis = enumValues(manifest.schema, fields.wiki);
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    nonce: body.nonce,
    spec: { fields, risk, threshold: body.threshold },
    passes: releaseGroups([...wikis], ids.slots.histogramSlots).length,
    charges,
  };
}
