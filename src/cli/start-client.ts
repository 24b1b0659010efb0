/**
 * @module cli/start-client
 *
 * The partner's side of `npm start` (cli/start.ts), over plain HTTP and nothing else: a client-credentials
 * token (cli/query-client.ts's ServiceClient, as `zktally query`), the dataset listing (the operator's public key), `GET /v1/circuits` turned into pinned keys, a query
 * (`POST /v1/queries`) or a pass of queries such as a histogram (`POST /v1/passes`) submitted with a fresh
 * random nonce, its job followed (chunks done / total and the time left), the bundle downloaded and verified
 * with the SDK (`verifyAny`, `verifyPass`), which never sees anything the partner could not.
 *
 * Security caveat: the keys come over the same channel as the bundles (fine for the local demo); a real
 * partner compares their `vkeyHash` with hashes published out of band (verifier/circuit-listing.ts).
 */
import type { JobView } from "../service/views.ts";
import { parseStrictJson } from "../util/strict-json.ts";
import {
  keysFromCircuitListing,
  type ListedKeys,
  type PassAnswer,
  type VerifyOptions,
  verifyAny,
  verifyPass,
} from "../verifier/index.ts";
import { type ClientCredentials, randomNonce, ServiceClient } from "./query-client.ts";

export type PartnerCredentials = ClientCredentials;

/** A verified answer: the bundle as downloaded and what the SDK says it proves. */
export interface VerifiedAnswer {
  readonly bundle: { readonly answer: unknown; readonly minGroupSize: number; readonly query: unknown };
  /** The bundle file as downloaded. */
  readonly text: string;
  readonly statement: string;
  readonly kind: string;
  readonly jobId: string;
}

/** A verified pass: one statement and one answer per query, in request order. */
export interface VerifiedPass {
  readonly bundle: { readonly queries: readonly unknown[]; readonly minGroupSize: number };
  readonly text: string;
  readonly statements: readonly string[];
  readonly answers: readonly PassAnswer[];
  readonly jobId: string;
}

interface Downloaded {
  readonly jobId: string;
  readonly text: string;
  readonly nonce: string;
}

/** A partner talking to one service; `connect` fetches the token, the operator key and the pinned keys. */
export class PartnerClient {
  private constructor(
    private readonly client: ServiceClient,
    private readonly operatorKey: string,
    private readonly keys: ListedKeys,
  ) {}

  static async connect(url: string, credentials: PartnerCredentials): Promise<PartnerClient> {
    const client = new ServiceClient(url, credentials);
    const listing = await client.getJson<{ operatorKey: unknown }>("/v1/datasets");
    const circuits = await client.getJson<unknown>("/v1/circuits");
    return new PartnerClient(client, String(listing.operatorKey), keysFromCircuitListing(circuits));
  }

  /** Submits `query`, follows the job (`onProgress` lines), downloads and verifies the bundle. */
  async ask(datasetId: string, query: unknown, onProgress: (line: string) => void): Promise<VerifiedAnswer> {
    const { jobId, text, nonce } = await this.prove("/v1/queries", { datasetId, query }, onProgress);
    const bundle = parseStrictJson(text) as VerifiedAnswer["bundle"];
    const result = verifyAny(bundle, this.verifyOptions(nonce));
    if (!result.valid) throw new Error(`bundle of job ${jobId} does not verify: ${JSON.stringify(result)}`);
    const kind = "kind" in result ? result.kind : "single";
    return { bundle, text, statement: result.statement, kind, jobId };
  }

  /** Submits a pass of `queries` (histograms among them), follows, downloads and verifies it. */
  async askPass(
    datasetId: string,
    queries: readonly unknown[],
    onProgress: (line: string) => void,
  ): Promise<VerifiedPass> {
    const { jobId, text, nonce } = await this.prove("/v1/passes", { datasetId, queries }, onProgress);
    const bundle = parseStrictJson(text) as VerifiedPass["bundle"];
    const result = verifyPass(bundle, this.verifyOptions(nonce));
    if (!result.valid)
      throw new Error(`pass bundle of job ${jobId} does not verify: ${JSON.stringify(result)}`);
    return { bundle, text, statements: result.statements, answers: result.answers, jobId };
  }

  private verifyOptions(nonce: string): VerifyOptions {
    return { ...this.keys, operatorKey: this.operatorKey, expectedNonce: nonce, allowInsecureKeys: true };
  }

  /** POSTs `body` with a fresh random nonce below r (`randomNonce`), follows the job and downloads its bundle. */
  private async prove(path: string, body: object, onProgress: (line: string) => void): Promise<Downloaded> {
    const nonce = randomNonce();
    const submitted = await this.client.postJson<{ jobId: string }>(path, { ...body, nonce });
    const jobId = String(submitted.jobId);
    await this.follow(jobId, onProgress);
    return { jobId, nonce, text: await (await this.client.request(`/v1/jobs/${jobId}/bundle`)).text() };
  }

  private async follow(jobId: string, onProgress: (line: string) => void): Promise<void> {
    let last = "";
    for (;;) {
      const job = await this.client.getJson<JobView>(`/v1/jobs/${jobId}`);
      if (job.state === "done") return;
      if (job.state === "failed") {
        throw new Error(`job ${jobId} failed: ${job.error?.code ?? "?"}: ${job.error?.message ?? ""}`);
      }
      const line = progressText(job);
      if (line !== last) onProgress(line);
      last = line;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function progressText(job: JobView): string {
  const chunks = job.progress?.chunks;
  if (chunks === undefined) return job.state;
  const eta = job.progress?.etaSeconds === undefined ? "" : `, about ${job.progress.etaSeconds} s left`;
  return `${job.state}: ${chunks.done}/${chunks.total} proofs${eta}`;
}
