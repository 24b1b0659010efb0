/**
 * @module service/app
 *
 * `createApp(ctx)`: the Express 5 application. Order matters: request id, access log and deadline first;
 * helmet's security headers; public endpoints (health, OpenAPI, docs, the verification page, JWKS, token); the partner API and the
 * admin API under `/v1` (each with its own JSON body limit); a JSON 404; the error handler last.
 *
 * Security caveats: `x-powered-by` is off, ETags are off (responses are per-partner and `no-store`), helmet's
 * defaults apply (CSP `default-src 'self'`, HSTS, nosniff, frame denial, no referrer); the docs page is static
 * HTML without scripts so it works under that CSP.
 */

import express, { type Express } from "express";
import helmet from "helmet";
import { UnavailableError } from "../util/errors.ts";
import { adminRouter } from "./admin.ts";
import { API } from "./api-routes.ts";
import type { ServiceContext } from "./context.ts";
import { statement } from "./db.ts";
import { errorHandler, notFoundHandler, requestContext } from "./http.ts";
import { routeMounter } from "./mount.ts";
import { oauthRouter } from "./oauth.ts";
import { docsPage, openApiDocument } from "./openapi.ts";
import { partnerRouter } from "./routes.ts";
import { transparencyRouter } from "./transparency.ts";
import { renderVerifyPage, verifyPageTemplate } from "./verify-page.ts";
import { circuitListing } from "./views.ts";

export function createApp(ctx: ServiceContext): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("trust proxy", ctx.config.trustProxy);
  app.use(requestContext(ctx));
  app.use(helmet());

  const document = openApiDocument({ issuerHint: ctx.config.issuer });
  const docs = docsPage(document);
  const mount = routeMounter(ctx, app, "");
  mount(API.health, (_req, res) => {
    res.json({ status: "ok" });
  });
  mount(API.ready, (_req, res) => {
    try {
      statement(ctx.db, "SELECT 1").get();
    } catch {
      throw new UnavailableError("not_ready", "the database is not available");
    }
    res.json({ status: "ready", circuit: ctx.circuit.id });
  });
  mount(API.openApi, (_req, res) => {
    res.json(document);
  });
  mount(API.docs, (_req, res) => {
    res.type("html").send(docs);
  });
  mount(API.verifyPage, async (_req, res) => {
    const trust = { operatorKey: ctx.operatorKey, circuits: circuitListing(ctx.circuit).circuits };
    const page = renderVerifyPage(await verifyPageTemplate(), trust);
    res.setHeader("content-security-policy", page.contentSecurityPolicy);
    res.type("html").send(page.html);
  });
  mount(API.jwks, (_req, res) => {
    res.json({ keys: ctx.tokens.publicJwks() });
  });
  app.use(oauthRouter(ctx));
  app.use(transparencyRouter(ctx));
  app.use("/v1/admin", adminRouter(ctx));
  app.use("/v1", partnerRouter(ctx));
  app.use(notFoundHandler);
  app.use(errorHandler(ctx));
  return app;
}
