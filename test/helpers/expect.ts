/**
 * The response shapes the SPEC and SECURITY.md promise, asserted in one
 * place: the SPEC §5 JSON error (once, for every kind of reply the helpers
 * produce), the RFC 6750 challenges, and SECURITY.md's "401" / "403".
 */
import { expect } from 'vitest';
import type { Answer } from './http.js';

export interface ErrorBody {
  error: string;
  error_description: string;
  request_id: string;
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

/** Any reply a helper returns: fetch-style (`text`, Headers), node:http or raw (`body` string, header record), or a probe Answer. */
export interface AnyReply {
  status: number;
  headers: HeaderSource;
  text?: string;
  body?: unknown;
}

/** One response header, whatever the reply's shape (names are case-insensitive). */
export function responseHeader(r: { headers: HeaderSource }, name: string): string | undefined {
  if (r.headers instanceof Headers) return r.headers.get(name) ?? undefined;
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function textOf(r: AnyReply): string {
  if (typeof r.text === 'string') return r.text;
  return typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? null);
}

/** SPEC §5: the status, a JSON body with error / error_description / request_id, and request_id equal to X-Request-Id. */
export function expectError(r: AnyReply, status: number, code: string): ErrorBody {
  const text = textOf(r);
  expect(r.status, text).toBe(status);
  expect(responseHeader(r, 'content-type')).toMatch(/^application\/json(;|$)/);
  const body = JSON.parse(text) as ErrorBody;
  expect(body.error, text).toBe(code);
  expect(typeof body.error_description).toBe('string');
  expect(body.error_description.length).toBeGreaterThan(0);
  expect(typeof body.request_id).toBe('string');
  expect(body.request_id.length).toBeGreaterThan(0);
  expect(responseHeader(r, 'x-request-id')).toBe(body.request_id);
  return body;
}

/** The error of a fetch Response, read to the end. */
export async function expectFetchError(res: Response, status: number, code: string): Promise<ErrorBody> {
  return expectError({ status: res.status, headers: res.headers, text: await res.text() }, status, code);
}

/** No credentials at all (SPEC §5.3): 401 unauthorized with the bare challenge. */
export const MISSING_TOKEN_CHALLENGE = 'Bearer realm="gatehouse"';
/** RFC 6750 §3 challenges of a refused token and of a token without the rights. */
export const CHALLENGE_401 = /^Bearer realm="gatehouse", error="invalid_token", error_description="[^"]*"$/;
export const CHALLENGE_403 = /^Bearer realm="gatehouse", error="insufficient_scope", error_description="[^"]*"$/;

/** SECURITY.md "401": SPEC §5 error invalid_token, the RFC 6750 challenge, upstream not called, no claims echoed. */
export function expectInvalidToken(a: Answer, echoes: readonly string[] = ['alice']): ErrorBody {
  const body = expectError(a, 401, 'invalid_token');
  expect(a.headers.get('www-authenticate')).toMatch(CHALLENGE_401);
  expect(a.reached, 'upstream called').toBe(false);
  for (const s of echoes) expect(a.text).not.toContain(s);
  return body;
}

/** SECURITY.md "403": valid token, rule not met. */
export function expectInsufficientScope(a: Answer): ErrorBody {
  const body = expectError(a, 403, 'insufficient_scope');
  expect(a.headers.get('www-authenticate')).toMatch(CHALLENGE_403);
  expect(a.reached, 'upstream called').toBe(false);
  return body;
}

export function expectAccepted(a: Answer): void {
  expect(a.status, a.text).toBe(200);
  expect(a.reached).toBe(true);
}

/** RFC 6750 §2.1 b64token: anything else in `Bearer <x>` is a malformed Authorization header (SPEC §5.3: 400). */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A refused token: 401 invalid_token, or 400 invalid_request when it cannot even be a b64token. Never 200, never 500. */
export function expectRefused(a: Answer, token: string): void {
  if (B64TOKEN.test(token)) {
    expectInvalidToken(a);
    return;
  }
  expectError(a, 400, 'invalid_request');
  expect(a.reached, 'upstream called').toBe(false);
}

/** Neither the tokens nor their signatures appear in the captured log text. */
export function expectNotLogged(logs: { text(): string }, ...tokens: string[]): void {
  const text = logs.text();
  for (const t of tokens) {
    if (!t) continue;
    expect(text.includes(t), 'token in the logs').toBe(false);
    const sig = t.split('.')[2];
    if (sig && sig.length > 16) expect(text.includes(sig), 'signature in the logs').toBe(false);
  }
}
