/**
 * @module scripts/http-api-docs
 *
 * `npm run docs:api`: writes docs/http-api.md from the service's OpenAPI document (src/service/openapi.ts,
 * rendered by src/service/openapi-markdown.ts). `--check` writes nothing and exits 1 when the committed file
 * is stale (test/http-api-docs.test.ts checks the same).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "../src/service/openapi.ts";
import { openApiMarkdown } from "../src/service/openapi-markdown.ts";

export const HTTP_API_DOC = fileURLToPath(new URL("../docs/http-api.md", import.meta.url));

/** The page as the code renders it now. */
export function renderHttpApiDoc(): string {
  return openApiMarkdown(openApiDocument());
}

function main(check: boolean): number {
  const rendered = renderHttpApiDoc();
  if (!check) {
    writeFileSync(HTTP_API_DOC, rendered);
    process.stdout.write(`wrote ${HTTP_API_DOC}\n`);
    return 0;
  }
  const current = readFileSync(HTTP_API_DOC, "utf8");
  if (current === rendered) return 0;
  process.stderr.write(`${HTTP_API_DOC} is stale: run npm run docs:api\n`);
  return 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  process.exitCode = main(process.argv.includes("--check"));
