/**
 * @module service/admission
 *
 * What every admission (POST /v1/queries, POST /v1/passes) starts with: the dataset epoch a partner asks,
 * if its policy names the dataset and the epoch is still answerable. Anything else is "not found", so a
 * partner cannot tell a dataset it may not query from one that does not exist.
 */
import { NotFoundError } from "../util/errors.ts";
import type { ServiceContext } from "./context.ts";
import type { StoredDataset } from "./datasets.ts";
import type { Partner } from "./partners.ts";

/** The asked epoch (default: the latest) of a dataset the partner may query; 404 otherwise. */
export function answerableDataset(
  ctx: ServiceContext,
  partner: Partner,
  datasetId: string,
  epoch: number | undefined,
): StoredDataset {
  if (!partner.policy.datasets.includes(datasetId)) throw new NotFoundError(`dataset ${datasetId}`);
  const dataset = ctx.datasets.answerable(datasetId, epoch);
  if (!dataset)
    throw new NotFoundError(`dataset ${datasetId}${epoch === undefined ? "" : ` epoch ${epoch}`}`);
  return dataset;
}
