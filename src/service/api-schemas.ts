/**
 * @module service/api-schemas
 *
 * The zod schemas of the HTTP API: path parameters, query strings and bodies that requests are validated
 * with, and the bodies the service answers with. `api-routes.ts` attaches them to routes; the router
 * validates with them and `openapi.ts` generates the OpenAPI document from them, so the two cannot drift.
 *
 * Request schemas are exactly as strict as admission needs and expressible in JSON Schema (a nonce's bound
 * below the scalar field order is a regular expression, not a refinement), so the published document rejects
 * what the service rejects. Submission bodies are non-strict on purpose: unknown fields are stripped (mass
 * assignment is ignored, not applied). Response schemas describe what handlers send; their TypeScript types
 * are checked against the handlers' `res.json` calls.
 *
 * Security caveat: response schemas are documentation of public data and the partner's own answers; they
 * are not used to filter responses, so a handler must still never put records, salts or secrets into one.
 */
import { z } from "zod";
import { DECISIONS } from "../audit/types.ts";
import { CANONICAL_DECIMAL, FIELD_ORDER, MAX_DECIMAL_DIGITS } from "../core/field.ts";
import { DATASET_ID_PATTERN, lowerHexPattern } from "../core/formats.ts";
import { signedChunkedManifestShape, signedManifestShape } from "../dataset/manifest.ts";
import { querySchema } from "../query/model.ts";
import { MAX_PASS_QUERIES, MAX_TERMS } from "../query/pass.ts";
import { RISK_LIST_NAME, riskListJsonSchema } from "../release/risk.ts";
import { registerDatasetSchema } from "./datasets.ts";
import { erasureRequestSchema } from "./erasure.ts";
import { JOB_STATES } from "./jobs.ts";
import { CLIENT_ID_PATTERN, newPartnerSchema } from "./partners.ts";
import { policySchema } from "./policy.ts";
import { RELEASE_STATES } from "./releases.ts";
import { SCOPES } from "./tokens.ts";

/**
 * An anchored pattern for canonical decimals (no leading zeros) strictly below `bound`: shorter numbers, or
 * numbers of the same length that are smaller digit by digit (nested, so the pattern grows linearly).
 */
export function decimalBelowPattern(bound: bigint): RegExp {
  if (bound <= 1n) throw new RangeError("bound must be at least 2");
  const digits = bound.toString(10);
  const sameLength = (i: number): string => {
    const d = Number(digits[i]);
    const rest = digits.length - i - 1;
    const low = i === 0 && digits.length > 1 ? 1 : 0;
    const digitClass = d - 1 === low ? `${low}` : `[${low}-${d - 1}]`;
    const smaller = d > low ? `${digitClass}[0-9]{${rest}}` : "";
    if (rest === 0) return smaller || "(?!)";
    const equal = `${d}(?:${sameLength(i + 1)})`;
    return smaller ? `${smaller}|${equal}` : equal;
  };
  const shorter = digits.length > 1 ? `0|[1-9][0-9]{0,${digits.length - 2}}|` : "";
  return new RegExp(`^(?:${shorter}${sameLength(0)})$`);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const hex = (bytes: number) => z.string().regex(lowerHexPattern(bytes));
const isoTime = z.string().describe("ISO 8601 date-time (UTC)");
const json = z.record(z.string(), z.unknown());

// ---------------------------------------------------------------------------------- request parts

export const datasetIdSchema = z
  .string()
  .regex(DATASET_ID_PATTERN, `must match ${DATASET_ID_PATTERN}`)
  .describe("dataset id");
export const uuidSchema = z.string().regex(UUID_PATTERN, "must be a lowercase UUID");
export const clientIdSchema = z
  .string()
  .regex(CLIENT_ID_PATTERN, `must match ${CLIENT_ID_PATTERN}`)
  .describe("client id");

/** A nonce: a canonical decimal below the BN254 scalar field order (78 digits at most). */
export const nonceSchema = z
  .string()
  .max(MAX_DECIMAL_DIGITS)
  .regex(
    decimalBelowPattern(FIELD_ORDER),
    "must be a canonical decimal string below the BN254 scalar field order",
  )
  .describe("canonical decimal below the BN254 scalar field order; bound into the proof; unique per partner");

export const submissionSchema = z
  .object({
    datasetId: datasetIdSchema,
    query: z
      .unknown()
      .refine((value) => value !== undefined, "is required")
      .describe("readable query (docs/design.md section 3)"),
    nonce: nonceSchema,
    epoch: z
      .int()
      .min(0)
      .optional()
      .describe("an older, still retained epoch to ask (default: the latest; docs/operations.md)"),
  })
  .describe("Unknown fields are ignored (policy, budget, group size and identity come from the server).");
export type Submission = z.output<typeof submissionSchema>;

const clauseListSchema = querySchema().shape.predicate;
const passFieldName = z.string().min(1).max(256);

/** One pass query (docs/query-language.md "Pass queries"): a DNF predicate and a pass aggregate. */
export const passQuerySchema = z
  .strictObject({
    predicate: z
      .union([
        clauseListSchema.describe("clauses, all of which must hold (AND)"),
        z
          .strictObject({ anyOf: z.array(clauseListSchema).min(1).max(MAX_TERMS) })
          .describe("disjunctive normal form: a record matches when all clauses of any one term hold"),
      ])
      .describe("which records the aggregate is over; [] = every record"),
    aggregate: z.discriminatedUnion("kind", [
      z.strictObject({ kind: z.literal("count") }),
      z.strictObject({ kind: z.literal("sum"), field: passFieldName.describe("a uint field") }),
      z.strictObject({
        kind: z.literal("threshold"),
        k: z.union([z.int().min(0), z.string().regex(/^(0|[1-9]\d{0,30})$/)]),
      }),
      z.strictObject({
        kind: z.literal("avg"),
        field: passFieldName.describe("a uint field: sum and count"),
      }),
      z.strictObject({
        kind: z.literal("histogram"),
        by: z.array(passFieldName).min(1).max(2).describe("one or two enum or bool fields: the cells"),
        sum: passFieldName.optional().describe("a uint field: sum per cell instead of the count"),
      }),
    ]),
  })
  .describe("a pass query; field names and values are checked against the dataset's schema at admission");

export const passSubmissionSchema = z
  .object({
    datasetId: datasetIdSchema,
    queries: z
      .array(passQuerySchema)
      .min(1)
      .max(MAX_PASS_QUERIES)
      .describe(
        "1 to Q queries answered by one proof (Q: the service's pass circuits); each is one query of the budget",
      ),
    nonce: nonceSchema,
    epoch: z.int().min(0).optional().describe("an older, still retained epoch to ask (default: the latest)"),
  })
  .describe("Unknown fields are ignored (policy, budget, group size and identity come from the server).");
export type PassSubmission = z.output<typeof passSubmissionSchema>;

const releaseFieldName = z.string().min(1).max(256);

/** An admin release request (POST /v1/admin/datasets/{datasetId}/releases, docs/privacy.md "Releases"). */
export const releaseRequestSchema = z
  .strictObject({
    epoch: z.int().min(0).optional().describe("the dataset epoch to release (default: the latest)"),
    fields: z
      .strictObject({ wiki: releaseFieldName, country: releaseFieldName, activity: releaseFieldName })
      .optional()
      .describe("the enum fields of the table (default: config release.fields)"),
    risk: z
      .union([
        riskListJsonSchema,
        z.string().regex(RISK_LIST_NAME).describe("the name of a risk list of config release.riskLists"),
      ])
      .describe("the risk list, or the name of one the operator configured"),
    threshold: z
      .int()
      .min(-(2 ** 40))
      .max(2 ** 40)
      .default(10)
      .describe("cells whose noisy value is below it are withheld"),
    nonce: nonceSchema.describe(
      "canonical decimal below the BN254 scalar field order; fixes the noise; unique per dataset epoch",
    ),
  })
  .describe("The noise of every cell is derived from the committed seed, this nonce and the table.");
export type ReleaseSubmission = z.output<typeof releaseRequestSchema>;

export const receiptsQuerySchema = z.object({
  after: z.coerce.number().int().min(-1).optional().describe("list entries after this index"),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("at most this many (default 100)"),
});

export const consistencyQuerySchema = z.object({
  from: z.coerce.number().int().min(0).describe("older tree size"),
  to: z.coerce.number().int().min(0).optional().describe("newer tree size (default: the current one)"),
});

export const scopesBodySchema = z.object({ scopes: z.array(z.enum(SCOPES)).min(1) });

/** `newPartnerSchema` with its policy documented (the store validates it with `parsePolicy`). */
export const createPartnerBodySchema = newPartnerSchema.extend({ policy: policySchema.optional() });

export const tokenRequestSchema = z
  .object({
    grant_type: z.literal("client_credentials"),
    scope: z.string().max(200).optional().describe("space-separated subset of the partner's scopes"),
    client_id: z.string().optional(),
    client_secret: z.string().optional(),
  })
  .describe("Client authentication by HTTP Basic or by the client_id and client_secret fields, not both.");

export { newPartnerSchema, policySchema, registerDatasetSchema };

// ---------------------------------------------------------------------------------- responses

export const errorBodySchema = z
  .looseObject({
    error: z.string().describe("stable machine-readable code"),
    message: z.string(),
    path: z.string().optional().describe("where in the request the problem is, e.g. `predicate[0].op`"),
    hint: z.string().optional().describe("what to do next"),
    requestId: z.string().describe("also in the X-Request-Id header"),
  })
  .describe("Every refusal; some carry extra fields (e.g. `jobId` for nonce_reused, `state`, `path`).");

export const oauthErrorSchema = errorBodySchema.extend({ error_description: z.string() });

export const healthSchema = z.object({ status: z.literal("ok") });
export const readySchema = z.object({ status: z.literal("ready"), circuit: z.string() });
export const jwksSchema = z.object({ keys: z.array(json) }).describe("JWK set (Ed25519 public key)");
export const openApiSchema = json.describe("this document");

export const tokenResponseSchema = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.int(),
  scope: z.string(),
});

const manifestSchema = z
  .union([signedManifestShape, signedChunkedManifestShape])
  .describe("signed dataset manifest: version 1 (one circuit instance) or 2 (chunked), docs/design.md");
const datasetViewShape = {
  datasetId: z.string(),
  epoch: z.int(),
  manifestHash: hex(32),
  manifest: manifestSchema,
};
export const datasetViewSchema = z.object(datasetViewShape);
export const datasetListSchema = z.object({ operatorKey: hex(32), datasets: z.array(datasetViewSchema) });
export const datasetReadSchema = z.object({ operatorKey: hex(32), ...datasetViewShape });
export { erasureRequestSchema };
export const erasureOutcomeSchema = z.object({
  datasetId: z.string(),
  pending: z.int().describe("requests waiting for the batch"),
  applied: z.boolean(),
  epoch: z.int().optional().describe("the new epoch, when applied"),
  manifestHash: hex(32).optional(),
  erased: z.int().optional().describe("records removed"),
  shreddedEpochs: z.int().optional().describe("older epochs crypto-shredded"),
});
/** A dataset's epoch chain (design.md section 5), oldest first: the `zktally verify --history` file. */
export const datasetHistorySchema = z.object({
  operatorKey: hex(32),
  datasetId: z.string(),
  manifests: z.array(manifestSchema),
});

const decimal = z.string().regex(CANONICAL_DECIMAL);
const g1 = z.array(decimal);
const g2 = z.array(z.array(decimal));
const vkeySchema = z
  .object({
    protocol: z.string().describe("groth16"),
    curve: z.string().describe("bn128"),
    nPublic: z.int(),
    vk_alpha_1: g1,
    vk_beta_2: g2,
    vk_gamma_2: g2,
    vk_delta_2: g2,
    vk_alphabeta_12: z.array(g2),
    IC: z.array(g1),
  })
  .describe("snarkjs Groth16 verification key (projective coordinates as decimal strings)");

export const circuitsSchema = z.object({
  circuits: z.array(
    z.object({
      circuitId: z.string(),
      vkeyHash: hex(32),
      nPublic: z.int(),
      constraints: z.int(),
      insecure: z.boolean(),
      vkey: vkeySchema,
    }),
  ),
});

export const submissionAcceptedSchema = z.object({
  jobId: z.string(),
  state: z.enum(JOB_STATES),
  statusUrl: z.string(),
  bundleUrl: z.string(),
  requestId: z.string(),
  replayed: z
    .literal(true)
    .optional()
    .describe("the same query with this nonce was submitted before: its job, not charged again"),
  names: z
    .array(z.object({ field: z.string(), name: z.string(), key: z.int() }))
    .optional()
    .describe(
      "names asked about on a string-key field, each with the hashed key the proven statement holds (the operator's keyed hash: not checkable without its secret)",
    ),
});

export const jobSchema = z.object({
  jobId: z.string(),
  state: z.enum(JOB_STATES),
  progress: z.object({
    phase: z.string(),
    percent: z.int(),
    queuePosition: z.int().optional(),
    chunks: z
      .object({ done: z.int(), total: z.int() })
      .optional()
      .describe("chunk proofs done of total in the current attempt"),
    etaSeconds: z
      .int()
      .optional()
      .describe("while proving: estimated seconds left, from the measured time per chunk"),
  }),
  attempts: z.int(),
  datasetId: z.string(),
  epoch: z.int(),
  circuitId: z.string(),
  kind: z.enum(["query", "pass"]).describe("pass: a POST /v1/passes job, answered by a pass bundle"),
  queryHash: z.string().describe("the query's hash (of a pass: the hash of its list of query hashes)"),
  nonce: z.string(),
  minGroupSize: z.int(),
  requestId: z.string(),
  createdAt: isoTime,
  updatedAt: isoTime,
  finishedAt: isoTime.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  statusUrl: z.string(),
  bundleUrl: z.string().optional(),
});
export const jobListSchema = z.object({ jobs: z.array(jobSchema) });

export const releaseSchema = z.object({
  releaseId: z.string(),
  state: z.enum(RELEASE_STATES),
  datasetId: z.string(),
  epoch: z.int(),
  nonce: z.string(),
  requestHash: z.string().describe("SHA-256 of the canonical release request (fields, risk list, threshold)"),
  progress: z.object({ passesDone: z.int(), passesTotal: z.int(), percent: z.int() }),
  attempts: z.int(),
  replayed: z
    .literal(true)
    .optional()
    .describe("the same request with this nonce was submitted before: its release, not charged again"),
  createdAt: isoTime,
  updatedAt: isoTime,
  finishedAt: isoTime.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  documentHash: z.string().optional().describe("SHA-256 of release.json, as audited"),
  statusUrl: z.string(),
  documentUrl: z.string(),
  tsvUrl: z.string(),
});
export const releaseDocumentSchema = json.describe(
  "zktally-release/v1: tiers, country tiers, threshold, nonce and the dp-histogram bundles (docs/privacy.md)",
);

export const bundleSchema = json.describe(
  'zktally-bundle/v1 (one proof) or, for a chunked dataset, zktally-bundle/v2 (a chain of chunk proofs and a final proof; `kind: "pass"` for a pass job\'s answers; docs/bundle.md), byte-identical to the audited one',
);

const privacyStandingSchema = z.object({
  datasetId: z.string(),
  epsilon: z.number(),
  delta: z.number(),
  spentEpsilon: z.number(),
  spentDelta: z.number(),
  remainingEpsilon: z.number(),
  remainingDelta: z.number(),
  windowSeconds: z.int().optional(),
});

export const budgetSchema = z.object({
  mode: z.enum(["exact", "dp"]),
  queries: z.int(),
  used: z
    .int()
    .describe("queries admitted in the sliding window [periodStart, periodEnd = now] (a pass counts each)"),
  remaining: z.int(),
  windowSeconds: z.int(),
  periodStart: isoTime,
  periodEnd: isoTime,
  nextReleaseAt: isoTime.optional().describe("when the oldest counted admission leaves the window"),
  privacy: z
    .array(privacyStandingSchema)
    .optional()
    .describe("dp partners: (epsilon, delta) budget per dataset, all epochs composed"),
});

const details = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
export const entryViewSchema = z.object({
  index: z.int(),
  requestId: z.string(),
  action: z.string(),
  decision: z.enum(DECISIONS),
  timestamp: isoTime,
  details: details.optional(),
});
export const receiptListSchema = z.object({ logKey: hex(32), entries: z.array(entryViewSchema) });

export const treeHeadSchema = z.object({
  treeSize: z.int(),
  rootHash: hex(32),
  timestamp: z.int().describe("ms since the Unix epoch"),
  logKey: hex(32),
  signature: hex(64),
});
export const receiptSchema = z
  .object({
    index: z.int(),
    leafHash: hex(32),
    entry: z.object({
      partner: z.string().nullable(),
      action: z.string(),
      decision: z.enum(DECISIONS),
      requestId: z.string(),
      details: details.optional(),
      index: z.int(),
      timestamp: z.int(),
    }),
    inclusion: z.array(hex(32)).describe("sibling hashes, bottom-up (RFC 6962 PATH)"),
    treeHead: treeHeadSchema,
  })
  .describe("audit entry, inclusion proof and signed tree head");
export const receiptsSchema = z.object({ logKey: hex(32), receipts: z.array(receiptSchema) });
const firstLogKey = hex(32).describe(
  "the key the log was created with (pin this one); log key rotations in the log lead to logKey",
);
export const treeHeadResponseSchema = z.object({
  logKey: hex(32).describe("the key that signs heads now"),
  firstLogKey,
  treeHead: treeHeadSchema,
});
export const logKeysSchema = z.object({
  firstLogKey,
  logKey: hex(32).describe("the key that signs heads now"),
  rotations: z
    .array(
      z.object({
        index: z.int().describe("the rotation entry's index"),
        oldLogKey: hex(32),
        newLogKey: hex(32),
        signature: hex(64).describe("the old key's Ed25519 signature of the rotation statement"),
      }),
    )
    .describe("log key rotations, oldest first: the key chain from firstLogKey (docs/audit.md 3a)"),
});
export const consistencySchema = z.object({
  logKey: hex(32),
  oldHead: treeHeadSchema,
  newHead: treeHeadSchema,
  proof: z.array(hex(32)),
});

/** The transparency log (service/transparency.ts): entries as stored (leaf = canonical JSON) with a view. */
export const transparencyQuerySchema = z.object({
  from: z.coerce.number().int().min(0).optional().describe("first entry index (default 0)"),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("at most this many (default 200)"),
});
export const transparencyEntriesSchema = z.object({
  logKey: hex(32),
  firstLogKey,
  treeHead: treeHeadSchema,
  entries: z.array(
    z.object({
      index: z.int(),
      leafHash: hex(32),
      entry: z.record(z.string(), z.unknown()).describe("the audit entry; its canonical JSON is the leaf"),
      view: z
        .object({
          time: isoTime,
          partner: z.string().nullable(),
          datasetId: z.string().optional(),
          epoch: z.int().optional(),
          statement: z.string().optional(),
          outcome: z.string().describe("admitted, refused, answered or failed"),
          answer: z.string().optional().describe("only when the partner's policy publishes answers"),
        })
        .optional(),
    }),
  ),
});

export const logKeyRotatedSchema = z.object({
  oldLogKey: hex(32),
  newLogKey: hex(32),
  index: z.int().describe("the rotation entry's index in the audit log"),
  treeHead: treeHeadSchema.describe("the first head signed by the new key (same size as the old key's last)"),
});
export const tokenKeyRotatedSchema = z.object({
  oldKid: z.string(),
  newKid: z.string(),
  retireAt: z.int().describe("seconds since the Unix epoch after which the old key verifies nothing"),
});

/** Operator key statements (design.md section 5). */
export const operatorKeysSchema = z.object({
  operatorKey: hex(32).describe("the key the running service signs manifests with"),
  statements: z
    .array(z.record(z.string(), z.unknown()))
    .describe("rotation and revocation statements, oldest first"),
});

export const partnerSchema = z.object({
  clientId: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  policy: policySchema,
  active: z.boolean(),
  createdAt: isoTime,
});
export const partnerListSchema = z.object({ partners: z.array(partnerSchema) });
export const partnerCreatedSchema = z.object({
  partner: partnerSchema,
  clientSecret: z.string().describe("shown once"),
});
export const secretRotatedSchema = z.object({ clientId: z.string(), clientSecret: z.string() });
export const budgetResetSchema = z.object({
  clientId: z.string(),
  periodStart: isoTime.describe(
    "the reset time: earlier admissions and (epsilon, delta) charges stop counting",
  ),
  previouslyUsed: z.int(),
  used: z.int(),
});
export const keysRotatedSchema = z.object({ reencrypted: z.int() });
export const auditVerificationSchema = z.union([
  z.object({
    ok: z.literal(true),
    treeSize: z.int(),
    rootHash: z.string(),
    headsChecked: z.int(),
    logKey: hex(32).describe("the key in force at the end of the log, reached from the first by rotations"),
    rotations: z.array(z.object({ index: z.int(), oldLogKey: hex(32), newLogKey: hex(32) })),
  }),
  z.object({ ok: z.literal(false), index: z.int(), reason: z.string() }),
]);

/** Response schemas that get a readable component name in the OpenAPI document (others are named per route). */
export const NAMED_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  Error: errorBodySchema,
  OAuthError: oauthErrorSchema,
  Manifest: manifestSchema,
  Dataset: datasetViewSchema,
  DatasetList: datasetListSchema,
  VerificationKey: vkeySchema,
  Job: jobSchema,
  Release: releaseSchema,
  Bundle: bundleSchema,
  AuditEntry: entryViewSchema,
  TreeHead: treeHeadSchema,
  Receipt: receiptSchema,
  Partner: partnerSchema,
  Policy: policySchema,
};
