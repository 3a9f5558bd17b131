import { expect } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rawRequest, type RawResponse } from '../helpers/raw.js';
import type { SeenRequest, TestUpstream } from '../helpers/upstream.js';

/** Shared by the pipeline integration tests: raw requests and the SPEC §5 error shape. */

export function portOf(g: TestGateway): number {
  return Number(new URL(g.url).port);
}

/**
 * One request with exactly these bytes on the wire: `target` unchanged, Host
 * first (unless `host` is null), then `headers` in order, then
 * `Connection: close` unless the caller sent its own Connection header.
 */
export function raw(g: TestGateway, target: string, headers: ReadonlyArray<readonly [string, string]> = [], opts: { method?: string; host?: string | null; version?: string } = {}): Promise<RawResponse> {
  const lines = [`${opts.method ?? 'GET'} ${target} ${opts.version ?? 'HTTP/1.1'}`];
  const host = opts.host === undefined ? `127.0.0.1:${portOf(g)}` : opts.host;
  if (host !== null) lines.push(`Host: ${host}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  if (!headers.some(([name]) => name.toLowerCase() === 'connection')) lines.push('Connection: close');
  return rawRequest(portOf(g), `${lines.join('\r\n')}\r\n\r\n`);
}

export interface ErrorBody {
  error: string;
  error_description: string;
  request_id: string;
}

/** SPEC §5 errors: status, JSON content type, the three body fields, request_id echoed in X-Request-Id. */
export function expectErrorBody(status: number, headers: Record<string, string>, body: string, want: { status: number; error: string }): ErrorBody {
  expect({ status, body }).toMatchObject({ status: want.status });
  expect(headers['content-type']).toMatch(/^application\/json/);
  const parsed = JSON.parse(body) as ErrorBody;
  expect(parsed.error).toBe(want.error);
  expect(typeof parsed.error_description).toBe('string');
  expect(parsed.error_description.length).toBeGreaterThan(0);
  expect(typeof parsed.request_id).toBe('string');
  expect(parsed.request_id.length).toBeGreaterThan(0);
  expect(headers['x-request-id']).toBe(parsed.request_id);
  return parsed;
}

export function expectRawError(res: RawResponse, status: number, error: string): ErrorBody {
  return expectErrorBody(res.status, res.headers, res.body, { status, error });
}

export async function expectFetchError(res: Response, status: number, error: string): Promise<ErrorBody> {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return expectErrorBody(res.status, headers, await res.text(), { status, error });
}

/** Runs `fn` and returns what the upstream received meanwhile. */
export async function seenDuring<T>(up: TestUpstream, fn: () => Promise<T>): Promise<{ result: T; seen: SeenRequest[] }> {
  const before = up.seen.length;
  const result = await fn();
  // the upstream records a request when its body ends, before answering: nothing can still be in flight here
  return { result, seen: up.seen.slice(before) };
}

/** Every value of one header as the upstream received it, matching names case-insensitively and "_" as "-". */
export function headerValues(seen: SeenRequest, name: string): string[] {
  const want = name.toLowerCase().replaceAll('_', '-');
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    if ((seen.rawHeaders[i] as string).toLowerCase().replaceAll('_', '-') === want) out.push(seen.rawHeaders[i + 1] as string);
  }
  return out;
}

/**
 * The ways a backend may read a path it receives: as is, percent-decoded
 * (bytes), with "\" as "/" (IIS, Windows), with ";params" stripped before
 * "//" is merged (Tomcat, Spring), then dot segments resolved and slashes
 * merged. True when any reading lands in /admin.
 */
export function meansAdmin(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  const decode = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  const variants = new Set<string>();
  for (const a of [path, decode(path)]) {
    for (const b of [a, a.replaceAll('\\', '/')]) {
      for (const c of [b, b.split('/').map((s) => s.split(';')[0]).join('/')]) variants.add(c);
    }
  }
  for (const v of variants) {
    const out: string[] = [];
    for (const seg of v.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') out.pop();
      else out.push(seg);
    }
    if (out[0] === 'admin') return true;
  }
  return false;
}
