/**
 * Requests for the tests, one helper per way of talking to a gateway:
 * - `request` / `postJson` / `postForm`: fetch, for ordinary API calls;
 * - `send`: node:http, which sends the path exactly as given and one header
 *   line per array element (fetch resolves ".." and merges headers);
 * - `raw`: exact bytes on the wire (smuggling, duplicate Host, bare LF);
 * - `probe`: one bearer request to a fresh path, saying whether the upstream saw it.
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { TestGateway } from './gateway.js';
import { rawRequest, type RawResponse } from './raw.js';
import type { SeenRequest, TestUpstream } from './upstream.js';

/** A fetch-style response read to the end. */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** milliseconds from sending to the end of the body */
  ms: number;
}

async function finish(started: number, res: Response): Promise<Reply> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: performance.now() - started };
}

/** A fetch Response read to the end (its timing starts now). */
export function readReply(res: Response): Promise<Reply> {
  return finish(performance.now(), res);
}

export async function request(
  base: string,
  path: string,
  init: { method?: string; token?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const started = performance.now();
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(base + path, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: init.body } : {}) });
  return finish(started, res);
}

export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const started = performance.now();
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return finish(started, res);
}

export async function postForm(base: string, path: string, params: Record<string, string> | string, headers: Record<string, string> = {}): Promise<Reply> {
  const started = performance.now();
  const body = typeof params === 'string' ? params : new URLSearchParams(params).toString();
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  return finish(started, res);
}

/** A node:http response read to the end. */
export interface NodeReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** milliseconds from sending to the end of the response */
  ms: number;
}

/** Header values; an array is sent as several lines of the same header (e.g. two Authorization lines). */
export type HeaderMap = Record<string, string | number | string[]>;

export interface SendOptions {
  method?: string;
  headers?: HeaderMap;
  body?: string | Buffer;
  /** the server may answer and close while the body is still going out (a refused 1 MB body): EPIPE/ECONNRESET are not failures */
  tolerateEarlyClose?: boolean;
}

/**
 * One request on a fresh connection with node:http, which sends the path
 * exactly as given (fetch would resolve "..", and cannot send two
 * Authorization lines; node:http sends one line per array element).
 */
export function send(base: string, path: string, opts: SendOptions = {}): Promise<NodeReply> {
  const url = new URL(base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: opts.method ?? 'GET', path, headers: (opts.headers ?? {}) as OutgoingHttpHeaders, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (opts.tolerateEarlyClose && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) return;
      reject(err);
    });
    req.end(opts.body);
  });
}

/** A node:http reply in the fetch-style shape. */
export function toReply(r: NodeReply): Reply {
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  return { status: r.status, headers, text: r.body, ms: r.ms };
}

/** A POST with an exact Content-Length on a fresh connection, tolerating an answer that arrives before the body is sent. */
export async function rawPost(base: string, path: string, body: string, type = 'application/json'): Promise<Reply> {
  return toReply(
    await send(base, path, { method: 'POST', headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) }, body, tolerateEarlyClose: true }),
  );
}

export function portOf(g: Pick<TestGateway, 'url'>): number {
  return Number(new URL(g.url).port);
}

/**
 * One request with exactly these bytes on the wire: `target` unchanged, Host
 * first (unless `host` is null), then `headers` in order, then
 * `Connection: close` unless the caller sent its own Connection header.
 */
export function raw(
  g: Pick<TestGateway, 'url'>,
  target: string,
  headers: ReadonlyArray<readonly [string, string]> = [],
  opts: { method?: string; host?: string | null; version?: string } = {},
): Promise<RawResponse> {
  const lines = [`${opts.method ?? 'GET'} ${target} ${opts.version ?? 'HTTP/1.1'}`];
  const host = opts.host === undefined ? `127.0.0.1:${portOf(g)}` : opts.host;
  if (host !== null) lines.push(`Host: ${host}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  if (!headers.some(([name]) => name.toLowerCase() === 'connection')) lines.push('Connection: close');
  return rawRequest(portOf(g), `${lines.join('\r\n')}\r\n\r\n`);
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

/** A bearer request's answer, and whether the upstream saw that very request. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
  /** did the upstream see this very request? */
  reached: boolean;
  ms: number;
}

/**
 * One request with `Authorization: Bearer <token>` (or the exact header value
 * given) to a fresh path under `prefix`, so the upstream's log answers
 * "was this request forwarded?" without counting.
 */
export async function probe(
  gatewayUrl: string,
  up: TestUpstream,
  token: string | null,
  opts: { prefix?: string; authorization?: string } = {},
): Promise<Answer> {
  const id = randomUUID();
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (token !== null) headers.authorization = `Bearer ${token}`;
  const started = performance.now();
  const res = await fetch(`${gatewayUrl}${opts.prefix ?? '/api'}/${id}`, { headers });
  const text = await res.text();
  const ms = performance.now() - started;
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    /* not JSON: the assertions on body will say so */
  }
  return { status: res.status, headers: res.headers, text, body, reached: up.seen.some((s) => s.url.includes(id)), ms };
}

/** Parses `name{label="value"} N` from Prometheus text (0 when absent). */
export function metricValue(text: string, name: string, labels: string): number {
  const re = new RegExp(`^${name}\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} ([0-9.e+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `check` is true (real time, no fake timers); fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
