/**
 * @module service/admin
 *
 * Operator functions, shared by the `admin`-scoped HTTP endpoints (`/v1/admin/...`) and the
 * `zktally serve admin ...` command line: register partners, rotate their secrets, set scopes and policies,
 * enable/disable them, reset budgets, register datasets, publish releases (admitted here, proven by the
 * release runner, service/release-runner.ts), rotate the storage, token and audit log keys and verify the
 * audit log.
 * Every call is one audited decision (action `admin.*`, partner = the acting admin's client id, or null for
 * the command line).
 *
 * Security caveats: client secrets are returned exactly once and never logged or audited; dataset uploads
 * are validated all-or-nothing and their error messages (which quote cells) go only to the uploading admin.
 */

import { randomBytes } from "node:crypto";
import express, { type Router } from "express";
import { ConflictError, NotFoundError } from "../util/errors.ts";
import { API } from "./api-routes.ts";
import type { ReleaseSubmission } from "./api-schemas.ts";
import { type AuditSubject, verifyStoredLog } from "./audit.ts";
import type { ServiceContext } from "./context.ts";
import { datasetView, type StoredDataset } from "./datasets.ts";
import { type ErasureOutcome, Erasures } from "./erasure.ts";
import { jsonBody, stateOf } from "./http.ts";
import { NotReadyError } from "./http-errors.ts";
import { routeMounter } from "./mount.ts";
import { OperatorKeys } from "./operator-keys.ts";
import { type Partner, partnerView } from "./partners.ts";
import { admitRelease, releaseConfigOf } from "./release-admission.ts";
import type { ReleaseRow } from "./releases.ts";
import { loadServiceKey, replaceServiceKey, storeRetiredTokenKey } from "./service-keys.ts";
import { releaseUrls, releaseView } from "./views.ts";

/** Admin operations, each audited. `actor` is the admin's client id (null on the command line). */
export class AdminOps {
  private erasureQueue: Erasures | undefined;

  constructor(private readonly ctx: ServiceContext) {}

  /** Built on first use (a bare app for the route table has no dataset store). */
  private get erasures(): Erasures {
    this.erasureQueue ??= new Erasures({
      db: this.ctx.db,
      cipher: this.ctx.datasets.storageCipher,
      datasets: this.ctx.datasets,
      batch: this.ctx.config.erasureBatch,
      now: this.ctx.now,
    });
    return this.erasureQueue;
  }

  private subject(actor: string | null, action: string, requestId: string): AuditSubject {
    return { partner: actor, action: `admin.${action}`, requestId };
  }

  /** Runs an async step and then audits; refusals (ZktallyError) are audited as refused. */
  private async audited<T>(subject: AuditSubject, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.ctx.audit.recordRefusal(subject, error);
      throw error;
    }
  }

  async createPartner(actor: string | null, requestId: string, input: unknown) {
    const subject = this.subject(actor, "partner.create", requestId);
    return this.audited(subject, () =>
      this.ctx.partners.create(input, (partner) => {
        this.ctx.audit.append(subject, "accepted", {
          clientId: partner.clientId,
          scopes: partner.scopes.join(" "),
        });
      }),
    );
  }

  async rotateSecret(actor: string | null, requestId: string, clientId: string): Promise<string> {
    const subject = this.subject(actor, "partner.rotate", requestId);
    return this.audited(subject, () =>
      this.ctx.partners.rotateSecret(clientId, () => {
        this.ctx.audit.append(subject, "accepted", { clientId });
      }),
    );
  }

  setPolicy(actor: string | null, requestId: string, clientId: string, policy: unknown): Partner {
    return this.ctx.audit.decide(this.subject(actor, "partner.policy", requestId), () => ({
      result: this.ctx.partners.setPolicy(clientId, policy),
      details: { clientId },
    }));
  }

  setScopes(actor: string | null, requestId: string, clientId: string, scopes: unknown): Partner {
    return this.ctx.audit.decide(this.subject(actor, "partner.scopes", requestId), () => ({
      result: this.ctx.partners.setScopes(clientId, scopes as string[]),
      details: { clientId },
    }));
  }

  setActive(actor: string | null, requestId: string, clientId: string, active: boolean): Partner {
    return this.ctx.audit.decide(
      this.subject(actor, active ? "partner.enable" : "partner.disable", requestId),
      () => ({
        result: this.ctx.partners.setActive(clientId, active),
        details: { clientId },
      }),
    );
  }

  /**
   * Resets the partner's budgets: every admission and (epsilon, delta) charge so far stops counting (jobs
   * already charged stay charged and answered). For a dp partner this restores privacy loss that really
   * happened: docs/privacy.md says what a reset means.
   */
  resetBudget(actor: string | null, requestId: string, clientId: string) {
    return this.ctx.audit.decide(this.subject(actor, "budget.reset", requestId), () => {
      const partner = this.ctx.partners.require(clientId);
      const now = this.ctx.now();
      const previous = this.ctx.jobs.budgets.reset(partner, now);
      return {
        result: { clientId, periodStart: new Date(now).toISOString(), previouslyUsed: previous, used: 0 },
        details: { clientId, periodStart: now, previouslyUsed: previous },
      };
    });
  }

  async registerDataset(actor: string | null, requestId: string, input: unknown) {
    const subject = this.subject(actor, "dataset.register", requestId);
    const stored = await this.audited(subject, () =>
      this.ctx.datasets.register(input, (dataset) => {
        this.ctx.audit.append(subject, "accepted", registrationDetails(dataset));
      }),
    );
    return datasetView(stored);
  }

  /**
   * `registerDataset` from a CSV or JSONL file (the command line): a chunked dataset is streamed from the file
   * with bounded memory instead of being read whole.
   */
  async registerDatasetFile(actor: string | null, requestId: string, input: unknown, file: string) {
    const subject = this.subject(actor, "dataset.register", requestId);
    const stored = await this.audited(subject, () =>
      this.ctx.datasets.registerFile(input, file, (dataset) => {
        this.ctx.audit.append(subject, "accepted", registrationDetails(dataset));
      }),
    );
    return datasetView(stored);
  }

  /**
   * Erasure requests (service/erasure.ts): queued until the batch is full, then a new epoch without the
   * records. Audited without the keys: whose records is never logged.
   */
  async erase(
    actor: string | null,
    requestId: string,
    datasetId: string,
    input: unknown,
  ): Promise<ErasureOutcome> {
    const subject = this.subject(actor, "dataset.erase", requestId);
    return this.audited(subject, () =>
      this.erasures.request(datasetId, input, (outcome) => {
        this.ctx.audit.append(subject, "accepted", {
          datasetId,
          pending: outcome.pending,
          applied: outcome.applied,
          ...(outcome.epoch === undefined ? {} : { epoch: outcome.epoch, erased: outcome.erased ?? 0 }),
        });
      }),
    );
  }

  /**
   * Admits a release (release-admission.ts) and queues it for the release runner: its release budget
   * reservation and one audit entry per tier charge commit together; a refusal is audited and charges nothing.
   */
  submitRelease(actor: string | null, requestId: string, datasetId: string, body: ReleaseSubmission) {
    const subject = this.subject(actor, "release", requestId);
    let admitted: ReturnType<typeof admitRelease>;
    try {
      admitted = admitRelease(this.ctx, datasetId, body);
    } catch (error) {
      this.ctx.audit.recordRefusal(subject, error);
      throw error;
    }
    const submitted = this.ctx.releases.submit(subject, admitted, releaseConfigOf(this.ctx.config).budget);
    this.ctx.wake();
    return submitted;
  }

  /** Operator signing key rotation (service/operator-keys.ts); takes effect for manifests at the next boot. */
  rotateOperatorKey(actor: string | null, requestId: string, next?: Uint8Array) {
    const subject = this.subject(actor, "keys.rotate-operator", requestId);
    try {
      return this.operatorKeys().rotate((rotation) => {
        this.ctx.audit.append(subject, "accepted", { oldKey: rotation.oldKey, newKey: rotation.newKey });
      }, next);
    } catch (error) {
      this.ctx.audit.recordRefusal(subject, error);
      throw error;
    }
  }

  /** Revokes a compromised earlier operator key at the audit log's current size. */
  revokeOperatorKey(actor: string | null, requestId: string, key: string) {
    const subject = this.subject(actor, "keys.revoke-operator", requestId);
    try {
      return this.operatorKeys().revoke(key, this.ctx.audit.log.size(), (revocation) => {
        this.ctx.audit.append(subject, "accepted", {
          revokedKey: revocation.key,
          revokedAtLogSize: revocation.revokedAtLogSize,
        });
      });
    } catch (error) {
      this.ctx.audit.recordRefusal(subject, error);
      throw error;
    }
  }

  /**
   * Token signing key rotation without downtime: the new key, the retiring one (with its retirement time) and
   * the audit entry commit in one transaction, then the running token service signs with the new key;
   * tokens of the old key verify until they expire, across restarts too (service-keys.ts).
   */
  async rotateTokenKey(actor: string | null, requestId: string) {
    const subject = this.subject(actor, "keys.rotate-token", requestId);
    const secret = new Uint8Array(randomBytes(32));
    const { db } = this.ctx;
    const cipher = this.ctx.datasets.storageCipher;
    return this.audited(subject, () =>
      this.ctx.tokens.rotate(secret, (rotation) => {
        db.transaction(() => {
          const retiring = { kid: rotation.oldKid, secretKey: loadServiceKey(db, cipher, "token") };
          const nowSeconds = Math.floor(this.ctx.now() / 1000);
          storeRetiredTokenKey(db, cipher, { ...retiring, retireAt: rotation.retireAt }, nowSeconds);
          replaceServiceKey(db, cipher, "token", secret);
          this.ctx.audit.append(subject, "accepted", { ...rotation });
        })();
      }),
    );
  }

  operatorKeys(): OperatorKeys {
    return new OperatorKeys(this.ctx.db, this.ctx.datasets.storageCipher, this.ctx.now);
  }

  async rotateStorageKey(actor: string | null, requestId: string) {
    const subject = this.subject(actor, "keys.rotate", requestId);
    const reencrypted = await this.audited(subject, () =>
      this.ctx.rotateStorageKey((count) =>
        this.ctx.audit.append(subject, "accepted", { reencrypted: count }),
      ),
    );
    this.ctx.datasets.clearCache();
    return { reencrypted };
  }

  /**
   * Audit log signing key rotation without downtime (audit/log-keys): the rotation entry (signed by the old
   * key, naming the new one), the new key's first head and the sealed new key commit in one transaction;
   * the running log signs with the new key from then on, and old heads keep verifying with the old key.
   */
  rotateLogKey(actor: string | null, requestId: string) {
    const subject = this.subject(actor, "keys.rotate-log", requestId);
    const secret = new Uint8Array(randomBytes(32));
    try {
      const { oldLogKey, newLogKey, receipt, treeHead } = this.ctx.audit.rotateKey(
        subject,
        { secretKey: secret },
        () => replaceServiceKey(this.ctx.db, this.ctx.datasets.storageCipher, "audit", secret),
      );
      return { oldLogKey, newLogKey, index: receipt.index, treeHead };
    } catch (error) {
      this.ctx.audit.recordRefusal(subject, error);
      throw error;
    } finally {
      secret.fill(0);
    }
  }

  /** Recomputes the whole audit log against its signed heads, following its key rotations. */
  verifyAudit() {
    return verifyStoredLog(this.ctx.db, this.ctx.audit.log);
  }
}

/** What the audit log records of a registration (public manifest facts only). */
function registrationDetails(dataset: StoredDataset) {
  const { manifest } = dataset;
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    manifestHash: dataset.manifestHash,
    recordCount: manifest.recordCount,
    ...(manifest.version === 2 ? { chunkCount: manifest.chunkCount } : {}),
  };
}

export function adminRouter(ctx: ServiceContext): Router {
  const router = express.Router();
  const ops = new AdminOps(ctx);
  const json = jsonBody(ctx.config.adminBodyLimitBytes);
  const mount = routeMounter(ctx, router, "/v1/admin", { json });
  const actor = (res: express.Response) => stateOf(res).partner?.clientId ?? null;
  const requestId = (res: express.Response) => stateOf(res).requestId;

  mount(API.listPartners, (_req, res) => {
    res.json({ partners: ctx.partners.list().map(partnerView) });
  });
  mount(API.createPartner, async (_req, res, { body }) => {
    const { partner, clientSecret } = await ops.createPartner(actor(res), requestId(res), body);
    res.status(201).json({ partner: partnerView(partner), clientSecret });
  });
  mount(API.readPartner, (_req, res, { params }) => {
    const partner = ctx.partners.get(params.clientId);
    if (!partner) throw new NotFoundError("partner");
    res.json(partnerView(partner));
  });
  mount(API.setPolicy, (_req, res, { params, body }) => {
    res.json(partnerView(ops.setPolicy(actor(res), requestId(res), params.clientId, body)));
  });
  mount(API.setScopes, (_req, res, { params, body }) => {
    res.json(partnerView(ops.setScopes(actor(res), requestId(res), params.clientId, body.scopes)));
  });
  mount(API.rotateSecret, async (_req, res, { params }) => {
    res.json({
      clientId: params.clientId,
      clientSecret: await ops.rotateSecret(actor(res), requestId(res), params.clientId),
    });
  });
  mount(API.disablePartner, (_req, res, { params }) => {
    res.json(partnerView(ops.setActive(actor(res), requestId(res), params.clientId, false)));
  });
  mount(API.enablePartner, (_req, res, { params }) => {
    res.json(partnerView(ops.setActive(actor(res), requestId(res), params.clientId, true)));
  });
  mount(API.resetBudget, (_req, res, { params }) => {
    res.json(ops.resetBudget(actor(res), requestId(res), params.clientId));
  });
  mount(API.listAllDatasets, (_req, res) => {
    res.json({ operatorKey: ctx.operatorKey, datasets: ctx.datasets.listLatest().map(datasetView) });
  });
  mount(API.registerDataset, async (_req, res, { body }) => {
    res.status(201).json(await ops.registerDataset(actor(res), requestId(res), body));
  });
  mount(API.eraseRecords, async (_req, res, { params, body }) => {
    res.json(await ops.erase(actor(res), requestId(res), params.datasetId, body));
  });
  mount(API.submitRelease, (_req, res, { params, body }) => {
    const { row, replayed } = ops.submitRelease(actor(res), requestId(res), params.datasetId, body);
    res.status(202).location(releaseUrls(row.release_id).statusUrl).json(releaseView(row, replayed));
  });
  mount(API.readRelease, (_req, res, { params }) => {
    res.json(releaseView(releaseOf(ctx, params.releaseId)));
  });
  mount(API.readReleaseDocument, (_req, res, { params }) => {
    res.type("application/json").send(finishedRelease(ctx, params.releaseId).document as string);
  });
  mount(API.readReleaseTsv, (_req, res, { params }) => {
    res.type("text/tab-separated-values").send(finishedRelease(ctx, params.releaseId).tsv as string);
  });
  mount(API.rotateTokenKey, async (_req, res) => {
    res.json(await ops.rotateTokenKey(actor(res), requestId(res)));
  });
  mount(API.rotateLogKey, (_req, res) => {
    res.json(ops.rotateLogKey(actor(res), requestId(res)));
  });
  mount(API.rotateStorageKey, async (_req, res) => {
    res.json(await ops.rotateStorageKey(actor(res), requestId(res)));
  });
  mount(API.verifyAudit, (_req, res) => {
    res.json(ops.verifyAudit());
  });
  return router;
}

function releaseOf(ctx: ServiceContext, releaseId: string): ReleaseRow {
  const row = ctx.releases.get(releaseId);
  if (!row) throw new NotFoundError("release");
  return row;
}

/** A done release (its document and TSV); not_ready while it runs, release_failed once it failed. */
function finishedRelease(ctx: ServiceContext, releaseId: string): ReleaseRow {
  const row = releaseOf(ctx, releaseId);
  if (row.state === "failed") {
    throw new ConflictError("release_failed", "the release failed; it has no document", {
      details: { state: row.state },
    });
  }
  if (row.state !== "done") throw new NotReadyError(row.state);
  return row;
}
