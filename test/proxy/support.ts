import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import type { RevocationStore, RevokedBy, StoreState } from '../../src/store/types.js';

/** A response read to the end. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** milliseconds from sending to the end of the response */
  ms: number;
}

export interface ErrorBody {
  error: string;
  error_description: string;
  request_id: string;
}

/** Header values; an array is sent as several lines of the same header (e.g. two Authorization lines). */
export type HeaderMap = Record<string, string | number | string[]>;

export interface SendOptions {
  method?: string;
  headers?: HeaderMap;
  body?: string | Buffer;
}

/**
 * One request on a fresh connection with node:http, which sends the path
 * exactly as given (fetch would resolve "..", and cannot send two
 * Authorization lines; node:http sends one line per array element).
 */
export function send(base: string, path: string, opts: SendOptions = {}): Promise<Reply> {
  const url = new URL(base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: opts.method ?? 'GET', path, headers: (opts.headers ?? {}) as OutgoingHttpHeaders, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** SPEC §5: JSON error, content-type application/json, error/error_description/request_id, request_id equal to X-Request-Id. */
export function expectErrorReply(r: Reply, status: number, code: string): ErrorBody {
  expect(r.status, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json(;|$)/);
  const body = JSON.parse(r.body) as ErrorBody;
  expect(body.error).toBe(code);
  expect(typeof body.error_description).toBe('string');
  expect(body.error_description.length).toBeGreaterThan(0);
  expect(typeof body.request_id).toBe('string');
  expect(body.request_id.length).toBeGreaterThan(0);
  expect(r.headers['x-request-id']).toBe(body.request_id);
  return body;
}

/** Polls until `check` is true (real time, no fake timers); fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A revocation store that is down: the one test double in these tests (the
 * Redis store does not exist yet; its real failure modes are tested with a
 * real redis-server). It implements the interface, nothing more.
 */
export class DownStore implements RevocationStore {
  readonly kind = 'redis' as const;
  constructor(private readonly reason = 'connection refused (test double)') {}
  state(): StoreState {
    return { ok: false, reason: this.reason };
  }
  check(): RevokedBy | null {
    return null;
  }
  async revokeJti(): Promise<void> {
    throw new Error('store down');
  }
  async revokeSubject(): Promise<void> {
    throw new Error('store down');
  }
  async revokeFamily(): Promise<void> {
    throw new Error('store down');
  }
  async close(): Promise<void> {}
}
