/**
 * @module service/verify-page
 *
 * `GET /verify`: the browser verification page (src/verifier/page/), with the service's public trust anchors
 * filled in: its operator key and its `GET /v1/circuits` listing (verification keys and hashes, all public).
 * The partner drops a bundle and the page verifies it in the browser with the SDK; nothing is sent back.
 *
 * The page is the one static file `npm run build` writes (dist/verify-page.html, next to the compiled
 * service); run from the sources, the service builds it in memory once (esbuild, a development dependency).
 *
 * Security caveats: the page's own Content-Security-Policy replaces helmet's for this response: scripts only
 * by the SHA-256 of the page's inline script, `connect-src 'none'` (the page can make no request at all, so
 * it cannot leak a bundle), no forms posting anywhere, no framing. The trust block is JSON with `<` escaped,
 * so no value can close its script element. The trust anchors are only as good as the channel: a partner who
 * can, pins the operator key and key hashes out of band.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { buildVerifyPage, TRUST_MARKER } from "./verify-page-build.mjs";

/** Where `npm run build` puts the page, relative to this module compiled into dist/service/. */
const PREBUILT = new URL("../verify-page.html", import.meta.url);

let template: Promise<string> | undefined;

/** The page's HTML with an empty trust block (read or built once). */
export function verifyPageTemplate(): Promise<string> {
  template ??= existsSync(PREBUILT) ? readFile(PREBUILT, "utf8") : buildVerifyPage();
  return template;
}

/** The public material the page verifies against. */
export interface PageTrust {
  readonly operatorKey: string;
  readonly circuits: readonly unknown[];
}

export interface RenderedPage {
  readonly html: string;
  readonly contentSecurityPolicy: string;
}

function inlineScriptHash(html: string): string {
  const match = /<script id="zktally-app">([\s\S]*?)<\/script>/.exec(html);
  if (match === null) throw new Error("the verification page has no zktally-app script");
  return createHash("sha256")
    .update(match[1] as string, "utf8")
    .digest("base64");
}

/** The page with `trust` filled in, and the policy its response must carry. */
export function renderVerifyPage(page: string, trust: PageTrust): RenderedPage {
  const json = JSON.stringify(trust).replace(/</g, "\\u003c");
  const html = page.replace(TRUST_MARKER, () => json);
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src 'sha256-${inlineScriptHash(html)}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'none'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, contentSecurityPolicy };
}
