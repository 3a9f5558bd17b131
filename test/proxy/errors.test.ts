import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/observe/log.js';
import { configFrom, LogCapture, startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { DownStore } from '../helpers/down-store.js';
import { expectError } from '../helpers/expect.js';
import { send, waitFor, type HeaderMap, type NodeReply as Reply } from '../helpers/http.js';

/** SPEC §5 error table, one row per case; 429 belongs to the login endpoints and is tested there. */

const ISS = 'https://gatehouse.test';
const MISSING_TOKEN = 'You must specify a Bearer token in the Authorization header to access this resource';

let key: TestKey;
let otherKey: TestKey;
let up: TestUpstream;
let slow: TestUpstream;
let g: TestGateway;
const slowClosed: number[] = [];
const tokens: Record<string, string> = {};

function baseConfig(upstream: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    ...extra,
    routes: [
      { name: 'public', match: { path: '/public/**' }, upstream, auth: 'public' },
      { name: 'api', match: { path: '/api/**' }, upstream },
      { name: 'admin', match: { path: '/admin/**' }, upstream, auth: { roles: ['admin'] } },
      { name: 'get-only', match: { path: '/get-only/**', methods: ['GET'] }, upstream, auth: 'public' },
    ],
  };
}

beforeAll(async () => {
  key = await makeKey('ES256');
  otherKey = await makeKey('ES256');
  up = await startUpstream();
  slow = await startUpstream();
  // never answers; records when the gateway gives up on the socket
  slow.handler = (req: IncomingMessage) => {
    req.socket.once('close', () => slowClosed.push(performance.now()));
  };
  const dead = await deadPort();
  const cfg = baseConfig(up.url, { server: { upstreamTimeout: '10s' } });
  g = await startGateway({
    ...cfg,
    routes: [
      ...(cfg.routes as unknown[]),
      { name: 'dead', match: { path: '/dead/**' }, upstream: `http://127.0.0.1:${dead}`, auth: 'public' },
      { name: 'slow', match: { path: '/slow/**' }, upstream: slow.url, auth: 'public', timeout: '300ms' },
    ],
  });
  tokens.user = await signToken(key, { roles: ['user'] }, { iss: ISS });
  tokens.expired = await signToken(key, { roles: ['user'] }, { iss: ISS, iat: Math.floor(Date.now() / 1000) - 600, ttl: -300 });
  tokens.foreign = await signToken(otherKey, { roles: ['admin'] }, { iss: ISS });
  tokens.wrongAudience = await signToken(key, { roles: ['admin'] }, { iss: ISS, aud: 'other' });
  tokens.revoked = await signToken(key, { roles: ['admin'] }, { iss: ISS, jti: 'revoked-jti' });
  await g.gw.store.revokeJti('revoked-jti', Math.floor(Date.now() / 1000) + 600);
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
  await slow?.close();
});

interface Row {
  name: string;
  path: string;
  method?: string;
  headers?: () => HeaderMap;
  status: number;
  error: string;
  /** exact WWW-Authenticate, or a pattern it must match; undefined = must be absent */
  challenge?: string | RegExp;
  description?: string;
  check?: (r: Reply) => void | Promise<void>;
}

const bearer = (name: string) => () => ({ authorization: `Bearer ${tokens[name] as string}` });
const INVALID = /^Bearer realm="gatehouse", error="invalid_token", error_description="[^"]+"$/;

const rows: Row[] = [
  {
    name: 'no token on a protected route',
    path: '/api/orders',
    status: 401,
    error: 'unauthorized',
    challenge: 'Bearer realm="gatehouse"',
    description: MISSING_TOKEN,
  },
  {
    name: 'another scheme (Basic) is no bearer token',
    path: '/api/orders',
    headers: () => ({ authorization: 'Basic YWxpY2U6c2VjcmV0' }),
    status: 401,
    error: 'unauthorized',
    challenge: 'Bearer realm="gatehouse"',
    description: MISSING_TOKEN,
  },
  {
    name: 'garbage token',
    path: '/api/orders',
    headers: () => ({ authorization: 'Bearer not.a.jwt' }),
    status: 401,
    error: 'invalid_token',
    challenge: INVALID,
  },
  { name: 'expired token', path: '/api/orders', headers: bearer('expired'), status: 401, error: 'invalid_token', challenge: INVALID },
  { name: 'token signed by an unknown key', path: '/api/orders', headers: bearer('foreign'), status: 401, error: 'invalid_token', challenge: INVALID },
  { name: 'token for another audience', path: '/api/orders', headers: bearer('wrongAudience'), status: 401, error: 'invalid_token', challenge: INVALID },
  {
    name: 'revoked token',
    path: '/admin/x',
    headers: bearer('revoked'),
    status: 401,
    error: 'invalid_token',
    challenge: /^Bearer realm="gatehouse", error="invalid_token", error_description="[^"]*revoked[^"]*"$/,
    check: (r) => expect((JSON.parse(r.body) as { error_description: string }).error_description).toMatch(/revoked/),
  },
  {
    name: 'valid token without the role',
    path: '/admin/users',
    headers: bearer('user'),
    status: 403,
    error: 'insufficient_scope',
    challenge: /^Bearer realm="gatehouse", error="insufficient_scope"(, error_description="[^"]+")?$/,
  },
  {
    name: 'two Authorization headers',
    path: '/api/orders',
    headers: () => ({ authorization: [`Bearer ${tokens.user as string}`, `Bearer ${tokens.user as string}`] }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'malformed Authorization header',
    path: '/api/orders',
    headers: () => ({ authorization: `Bearer ${tokens.user as string} extra` }),
    status: 400,
    error: 'invalid_request',
  },
  { name: 'token in the query string', path: `/api/orders?access_token=x`, headers: bearer('user'), status: 400, error: 'invalid_request' },
  { name: 'encoded slash in the path', path: '/public/a%2fb', status: 400, error: 'invalid_request' },
  { name: 'path climbing above the root', path: '/public/../../etc/passwd', status: 400, error: 'invalid_request' },
  { name: 'no route', path: '/nowhere', status: 404, error: 'not_found' },
  { name: 'route path matches but the method does not', path: '/get-only/x', method: 'POST', status: 404, error: 'not_found' },
  { name: 'upstream refused', path: '/dead/x', status: 502, error: 'bad_gateway' },
];

describe('SPEC §5 error table', () => {
  it.each(rows)('$name -> $status $error', async (row) => {
    const before = up.seen.length;
    const r = await send(g.url, row.path, { method: row.method ?? 'GET', headers: row.headers?.() ?? {} });
    const body = expectError(r, row.status, row.error);
    const challenge = r.headers['www-authenticate'];
    if (row.challenge === undefined) expect(challenge).toBeUndefined();
    else if (typeof row.challenge === 'string') expect(challenge).toBe(row.challenge);
    else expect(challenge).toMatch(row.challenge);
    if (row.description !== undefined) expect(body.error_description).toBe(row.description);
    await row.check?.(r);
    expect(up.seen.length).toBe(before);
  });

  it('upstream timeout -> 504 after the route timeout, well before the global one, and the upstream request is aborted', async () => {
    const before = up.seen.length;
    const closedBefore = slowClosed.length;
    const r = await send(g.url, '/slow/x');
    expectError(r, 504, 'gateway_timeout');
    expect(r.headers['www-authenticate']).toBeUndefined();
    expect(r.ms).toBeGreaterThanOrEqual(280);
    // the route says 300ms (the global upstreamTimeout is 10s); allow scheduling slack, not a timer tick of 1s
    expect(r.ms).toBeLessThan(900);
    expect(slow.seen.at(-1)?.url).toBe('/slow/x');
    await waitFor(() => slowClosed.length > closedBefore, 'the upstream to see its socket closed', 2000);
    expect(up.seen.length).toBe(before);
  });

  it('keeps a sane client X-Request-Id and replaces an insane one', async () => {
    const kept = await send(g.url, '/nowhere', { headers: { 'x-request-id': 'trace-123.abc' } });
    expect(expectError(kept, 404, 'not_found').request_id).toBe('trace-123.abc');
    const replaced = await send(g.url, '/nowhere', { headers: { 'x-request-id': 'bad id\twith "quotes"' } });
    expect(expectError(replaced, 404, 'not_found').request_id).not.toContain('bad id');
  });
});

describe('revocation store down with onStoreError: allow (deny is SECURITY.md F01, test/security/failure.test.ts)', () => {
  const started: Gateway[] = [];
  const startWith = async (onStoreError: 'deny' | 'allow') => {
    const config = configFrom({ ...baseConfig(up.url), server: { listen: '127.0.0.1:0' }, admin: { listen: false }, revocation: { onStoreError } });
    const gw = await Gateway.start({ config, store: new DownStore(), logger: createLogger('info', new LogCapture()) });
    started.push(gw);
    return `http://127.0.0.1:${gw.address().port}`;
  };
  afterAll(async () => {
    await Promise.all(started.map((gw) => gw.stop()));
  });

  it('onStoreError: allow -> a valid token passes', async () => {
    const url = await startWith('allow');
    const r = await send(url, '/api/orders', { headers: bearer('user')() });
    expect(r.status).toBe(200);
    expect(up.seen.at(-1)?.url).toBe('/api/orders');
    expect(up.seen.at(-1)?.headers['x-user-id']).toBe('alice');
  });
});
