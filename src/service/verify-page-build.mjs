/**
 * @module service/verify-page-build
 *
 * Builds the browser verification page as one static HTML file: src/verifier/page/app.ts (and through it
 * the verifier SDK) bundled by esbuild for browsers (IIFE, minified) and inlined into
 * src/verifier/page/page.html. `npm run build` writes it to dist/verify-page.html (the operator package ships
 * it; `zktally serve` serves it at `/verify`); from the sources the service builds it in memory once.
 * The trust block keeps its TRUST_MARKER: the static file asks for keys and operator key (the page ignores
 * the marker), the service replaces it with its own operator key and circuit listing. Plain JavaScript so scripts/build.mjs can run it without a TypeScript loader; esbuild is a
 * development dependency, needed only here.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const PAGE_DIR = fileURLToPath(new URL("../verifier/page/", import.meta.url));
export const APP_MARKER = "/*APP*/";
export const TRUST_MARKER = '"ZKTALLY_TRUST"';

/** The page's HTML with its script inlined (the trust block still holds TRUST_MARKER). */
export async function buildVerifyPage() {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [`${PAGE_DIR}app.ts`],
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "warning",
  });
  const script = result.outputFiles[0].text.replaceAll("</script", "<\\/script").trim();
  const template = await readFile(`${PAGE_DIR}page.html`, "utf8");
  if (!template.includes(APP_MARKER) || !template.includes(TRUST_MARKER))
    throw new Error("page.html lacks its APP or TRUST marker");
  return template.replace(APP_MARKER, () => script);
}
