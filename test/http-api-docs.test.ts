/**
 * @module test/http-api-docs
 *
 * docs/http-api.md is generated from the OpenAPI document (`npm run docs:api`): the committed file must be
 * exactly what the code renders now, and the page must list every operation of the route table.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HTTP_API_DOC, renderHttpApiDoc } from "../scripts/http-api-docs.ts";
import { API_ROUTES } from "../src/service/api-routes.ts";
import { openApiPath } from "../src/service/openapi.ts";

describe("docs/http-api.md", () => {
  it("is up to date with the OpenAPI document (run npm run docs:api when this fails)", () => {
    expect(readFileSync(HTTP_API_DOC, "utf8") === renderHttpApiDoc()).toBe(true);
  });

  it("has a section per operation with its scope", () => {
    const page = renderHttpApiDoc();
    for (const route of API_ROUTES) {
      expect(page).toContain(`### \`${route.method.toUpperCase()} ${openApiPath(route.path)}\``);
      expect(page).toContain(`operation \`${route.operationId}\`, scope \`${route.scope ?? "none"}\``);
    }
  });
});
