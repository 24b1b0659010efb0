/**
 * @module cli/query-client
 *
 * The partner's HTTP client for `zktally query`: an OAuth2 client-credentials token (HTTP Basic), fetched
 * again shortly before it expires or when the service answers 401, and JSON or text requests against the
 * service's API (docs/service.md). Errors are `QueryClientError`: the HTTP status and the service's
 * `{error, message}` when it sent one. Uses only `fetch`: no operator code.
 *
 * `randomNonce` is the partner's fresh nonce for each query.
 *
 * Security caveat: the client secret is sent only to `POST /oauth/token`; use an https URL beyond loopback.
 */

import { randomBytes } from "node:crypto";
import { FIELD_ORDER } from "../core/field.ts";

/** A uniformly distributed canonical decimal nonce below r (512 random bits reduced: bias below 2^-250). */
export function randomNonce(): string {
  return (BigInt(`0x${randomBytes(64).toString("hex")}`) % FIELD_ORDER).toString();
}

/** An answer of the service that is not the expected success, or a service that cannot be reached. */
export class QueryClientError extends Error {
  override name = "QueryClientError";
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Seconds before expiry at which the token is fetched again. */
const REFRESH_MARGIN_S = 15;

export class ServiceClient {
  private token: { readonly value: string; readonly expiresAt: number } | undefined;
  /** Tokens fetched so far (the first and every refresh). */
  tokensIssued = 0;

  constructor(
    readonly baseUrl: string,
    private readonly credentials: ClientCredentials,
    private readonly now: () => number = Date.now,
  ) {}

  private async fetchToken(): Promise<string> {
    const basic = Buffer.from(
      `${encodeURIComponent(this.credentials.clientId)}:${encodeURIComponent(this.credentials.clientSecret)}`,
    ).toString("base64");
    const response = await this.send("/oauth/token", {
      method: "POST",
      headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials" }).toString(),
    });
    const body = (await response.json()) as { access_token: string; expires_in: number };
    this.tokensIssued++;
    this.token = { value: body.access_token, expiresAt: this.now() + body.expires_in * 1000 };
    return body.access_token;
  }

  private async bearer(): Promise<string> {
    const fresh = this.token !== undefined && this.token.expiresAt - this.now() > REFRESH_MARGIN_S * 1000;
    return fresh ? (this.token?.value as string) : this.fetchToken();
  }

  /** One request; a non-2xx answer throws `QueryClientError` with the service's error code and message. */
  private async send(pathname: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(pathname, this.baseUrl), init);
    } catch (error) {
      throw new QueryClientError(
        `cannot reach ${this.baseUrl} (${(error as Error).cause ?? (error as Error).message})`,
      );
    }
    if (response.ok) return response;
    const text = await response.text();
    let detail: { error?: string; message?: string; error_description?: string } = {};
    try {
      detail = JSON.parse(text);
    } catch {
      // not JSON: the status says it
    }
    const code = detail.error;
    const message = detail.message ?? detail.error_description ?? text.slice(0, 200);
    throw new QueryClientError(
      `${init.method ?? "GET"} ${pathname}: ${response.status}${code ? ` ${code}` : ""}: ${message}`,
      response.status,
      code,
    );
  }

  /** An authorised request; on 401 the token is fetched again once (it expired or was rotated). */
  async request(pathname: string, init: RequestInit = {}): Promise<Response> {
    const attempt = async () =>
      this.send(pathname, {
        ...init,
        headers: { ...init.headers, authorization: `Bearer ${await this.bearer()}` },
      });
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof QueryClientError && error.status === 401)) throw error;
      this.token = undefined;
      return attempt();
    }
  }

  async getJson<T>(pathname: string): Promise<T> {
    return (await (await this.request(pathname)).json()) as T;
  }

  async postJson<T>(pathname: string, body: unknown): Promise<T> {
    const response = await this.request(pathname, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return (await response.json()) as T;
  }
}
