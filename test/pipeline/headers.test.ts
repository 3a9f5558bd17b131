import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect.js';
import { requestLog, startGateway, type TestGateway } from '../helpers/gateway.js';
import { headerValues, portOf, raw, seenDuring } from '../helpers/http.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import type { RawResponse } from '../helpers/raw.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';

/**
 * SPEC §5.7 and SECURITY.md P01-P06: what the upstream receives. Identity
 * headers come from Gatehouse alone, forwarding headers are rebuilt from the
 * connection (or extended through trusted proxies only), hop-by-hop headers
 * stop here, and claims can never split a header line.
 */

const ISS = 'https://gatehouse.test';
const IDENTITY = { 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope', 'X-User-Name': 'name', 'X-User-Email': 'email' };
const IDENTITY_NAMES = Object.keys(IDENTITY);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Client copies of every identity header, in every spelling a backend may fold together (P01-P03). */
const SPOOFS: Array<[string, string]> = [
  ['X-User-Id', 'mallory'],
  ['x-user-id', 'mallory-lower'],
  ['X-USER-ID', 'mallory-upper'],
  ['X_USER_ID', 'mallory-underscore'],
  ['X_User_Id', 'mallory-mixed'],
  ['x-user_id', 'mallory-half'],
  ['X-User-Roles', 'admin'],
  ['x_user_roles', 'admin,root'],
  ['X-User-Scopes', 'orders:write'],
  ['X_User_Scopes', 'everything'],
  ['X-User-Name', 'Mallory'],
  ['X-User-Email', 'mallory@evil.example'],
];

let key: TestKey;
let up: TestUpstream;
let g: TestGateway;
let trusting: TestGateway;
let noToken: TestGateway;

function routes(upstream: string): Array<Record<string, unknown>> {
  return [
    { name: 'internal', match: { path: '/internal/**', host: 'internal.example' }, upstream, auth: 'public' },
    { name: 'public', match: { path: '/public/**' }, upstream, auth: 'public' },
    { name: 'optional', match: { path: '/maybe/**' }, upstream, auth: 'optional' },
    { name: 'admin', match: { path: '/admin/**' }, upstream, auth: { roles: ['admin'] } },
    { name: 'api', match: { path: '/api/**' }, upstream, auth: 'required' },
  ];
}

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  const base = {
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    identity: { headers: IDENTITY },
    routes: routes(up.url),
  };
  g = await startGateway(base);
  trusting = await startGateway({ ...base, server: { trustedProxies: ['127.0.0.1/32'] } });
  noToken = await startGateway({ ...base, identity: { headers: IDENTITY, forwardToken: false } });
});
afterAll(async () => {
  await Promise.all([g.stop(), trusting.stop(), noToken.stop()]);
  await up.close();
});

const alice = (extra: Record<string, unknown> = {}) =>
  signToken(key, { roles: ['user'], scope: 'orders:read', name: 'Alice', email: 'alice@example.com', ...extra }, { iss: ISS });

/** One request that must reach the upstream exactly once; returns what the upstream saw. */
async function through(gw: TestGateway, target: string, headers: Array<[string, string]>): Promise<{ res: RawResponse; seen: SeenRequest }> {
  const { result, seen } = await seenDuring(up, () => raw(gw, target, headers));
  expect(result.status, result.body).toBe(200);
  expect(seen).toHaveLength(1);
  return { res: result, seen: seen[0]! };
}

function expectNoIdentity(seen: SeenRequest): void {
  for (const name of IDENTITY_NAMES) expect(headerValues(seen, name), name).toEqual([]);
}

const logLine = requestLog;

describe('identity headers come from Gatehouse only (P01-P03)', () => {
  it("protected route: each identity header arrives exactly once, with the token's value", async () => {
    const token = await alice();
    const { seen } = await through(g, '/api/orders', [...SPOOFS, ['Authorization', `Bearer ${token}`]]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['alice']);
    expect(headerValues(seen, 'X-User-Roles')).toEqual(['user']);
    expect(headerValues(seen, 'X-User-Scopes')).toEqual(['orders:read']);
    expect(headerValues(seen, 'X-User-Name')).toEqual(['Alice']);
    expect(headerValues(seen, 'X-User-Email')).toEqual(['alice@example.com']);
    expect(JSON.stringify(seen.rawHeaders)).not.toMatch(/mallory|orders:write|everything|root/i);
  });

  it("role-protected route: spoofed roles cannot add to the token's", async () => {
    const token = await signToken(key, { roles: ['admin'] }, { iss: ISS, sub: 'root-user' });
    const { seen } = await through(g, '/admin/x', [['Authorization', `Bearer ${token}`], ...SPOOFS]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['root-user']);
    expect(headerValues(seen, 'X-User-Roles')).toEqual(['admin']);
  });

  it('claims the token lacks produce no header, and the spoofed one does not fill the gap', async () => {
    const token = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const { seen } = await through(g, '/api/x', [['Authorization', `Bearer ${token}`], ...SPOOFS]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['alice']);
    // no scope claim resolves to an empty scope list: at most Gatehouse's one empty value, never the client's
    const scopes = headerValues(seen, 'X-User-Scopes');
    expect(scopes.length).toBeLessThanOrEqual(1);
    expect(scopes.filter((v) => v !== '')).toEqual([]);
    expect(headerValues(seen, 'X-User-Name')).toEqual([]);
    expect(headerValues(seen, 'X-User-Email')).toEqual([]);
  });

  it('public route: spoofed identity headers are stripped', async () => {
    const { seen } = await through(g, '/public/x', SPOOFS);
    expectNoIdentity(seen);
  });

  it('public route: a valid token does not turn into identity headers either', async () => {
    const { seen } = await through(g, '/public/x', [['Authorization', `Bearer ${await alice()}`], ...SPOOFS]);
    expectNoIdentity(seen);
  });

  it("optional route: anonymous callers get no identity headers; authenticated ones get Gatehouse's", async () => {
    expectNoIdentity((await through(g, '/maybe/x', SPOOFS)).seen);
    const { seen } = await through(g, '/maybe/x', [...SPOOFS, ['Authorization', `Bearer ${await alice()}`]]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['alice']);
    expect(headerValues(seen, 'X-User-Roles')).toEqual(['user']);
  });

  it('a spoofed identity header on a protected route without a token is 401, upstream not called', async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/admin/x', SPOOFS));
    expectError(result, 401, 'unauthorized');
    expect(seen).toEqual([]);
  });

  it('a header name with whitespace before the colon is refused by the parser, upstream not called', async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/public/x', [['X-User-Id ', 'mallory']]));
    expectError(result, 400, 'invalid_request');
    expect(seen).toEqual([]);
  });
});

describe("Connection cannot remove Gatehouse's headers (P04)", () => {
  it.each([
    'close, X-User-Id',
    'close, X-User-Id, X-User-Roles, X-User-Scopes',
    'close, Authorization',
    'close, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host',
    'close, X-Request-Id',
    'close, x-user-id, authorization, x-forwarded-for, x-request-id, x-user-roles',
  ])('Connection: %s', async (connection) => {
    const token = await alice();
    const { res, seen } = await through(g, '/api/x', [
      ['Connection', connection],
      ['Authorization', `Bearer ${token}`],
      ['X-User-Id', 'mallory'],
    ]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['alice']);
    expect(headerValues(seen, 'X-User-Roles')).toEqual(['user']);
    expect(headerValues(seen, 'X-User-Scopes')).toEqual(['orders:read']);
    expect(headerValues(seen, 'X-Forwarded-For')).toEqual(['127.0.0.1']);
    expect(headerValues(seen, 'X-Forwarded-Proto')).toEqual(['http']);
    expect(headerValues(seen, 'X-Forwarded-Host')).toEqual([`127.0.0.1:${portOf(g)}`]);
    expect(headerValues(seen, 'X-Request-Id')).toEqual([res.headers['x-request-id']]);
    expect(res.headers['x-request-id']).toMatch(UUID);
  });
});

describe('forwarding headers from an untrusted client (P05-P06)', () => {
  const FORGED: Array<[string, string]> = [
    ['X-Forwarded-For', '1.2.3.4'],
    ['X-Forwarded-For', '10.0.0.1'],
    ['X-Forwarded-Host', 'internal.example'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Port', '443'],
    ['X-Forwarded-Prefix', '/admin'],
    ['Forwarded', 'for=1.2.3.4;host=internal.example;proto=https'],
    ['X-Real-IP', '1.2.3.4'],
    ['X-Original-URL', '/admin/x'],
    ['X-Rewrite-URL', '/admin/x'],
    ['X-Original-URI', '/admin/x'],
  ];

  it('are replaced by what Gatehouse saw, or removed', async () => {
    const { seen } = await through(g, '/public/x', FORGED);
    expect(seen.url).toBe('/public/x');
    expect(headerValues(seen, 'X-Forwarded-For')).toEqual(['127.0.0.1']);
    expect(headerValues(seen, 'X-Forwarded-Proto')).toEqual(['http']);
    expect(headerValues(seen, 'X-Forwarded-Host')).toEqual([`127.0.0.1:${portOf(g)}`]);
    for (const name of ['X-Forwarded-Port', 'X-Forwarded-Prefix', 'Forwarded', 'X-Original-URL', 'X-Rewrite-URL', 'X-Original-URI']) {
      expect(headerValues(seen, name), name).toEqual([]);
    }
    // X-Real-IP is Gatehouse's own: the client address it saw
    expect(headerValues(seen, 'X-Real-IP')).toEqual(['127.0.0.1']);
  });

  it('never influence the client address Gatehouse logs', async () => {
    const { res } = await through(g, '/public/x', FORGED);
    const line = await logLine(g, res.headers['x-request-id'] as string);
    expect(line.client).toBe('127.0.0.1');
  });

  it('X-Original-URL / X-Rewrite-URL never change the route: /admin stays protected, /public stays public', async () => {
    const { result, seen } = await seenDuring(up, () =>
      raw(g, '/admin/x', [
        ['X-Original-URL', '/public/x'],
        ['X-Rewrite-URL', '/public/x'],
      ]),
    );
    expectError(result, 401, 'unauthorized');
    expect(seen).toEqual([]);
    const pub = await through(g, '/public/x', [['X-Original-URL', '/admin/x']]);
    expect(pub.seen.url).toBe('/public/x');
  });

  it('X-Forwarded-Host / Forwarded never select a host route', async () => {
    const { result, seen } = await seenDuring(up, () =>
      raw(g, '/internal/x', [
        ['X-Forwarded-Host', 'internal.example'],
        ['Forwarded', 'host=internal.example'],
      ]),
    );
    expectError(result, 404, 'not_found');
    expect(seen).toEqual([]);
    const ok = await seenDuring(up, () => raw(g, '/internal/x', [], { host: 'internal.example' }));
    expect(ok.result.status).toBe(200);
    expect(ok.seen.map((s) => s.url)).toEqual(['/internal/x']);
  });
});

describe('forwarding headers through a trusted proxy (server.trustedProxies: 127.0.0.1/32)', () => {
  it('X-Forwarded-For is appended to; proto and host are kept; the client address walks the chain', async () => {
    const { res, seen } = await through(trusting, '/public/x', [
      ['X-Forwarded-For', '203.0.113.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'www.example'],
    ]);
    expect(headerValues(seen, 'X-Forwarded-For')).toEqual(['203.0.113.7, 127.0.0.1']);
    expect(headerValues(seen, 'X-Forwarded-Proto')).toEqual(['https']);
    expect(headerValues(seen, 'X-Forwarded-Host')).toEqual(['www.example']);
    expect((await logLine(trusting, res.headers['x-request-id'] as string)).client).toBe('203.0.113.7');
  });

  it('a longer chain keeps every hop, in order', async () => {
    const { res, seen } = await through(trusting, '/public/x', [['X-Forwarded-For', '198.51.100.1, 203.0.113.7']]);
    expect(headerValues(seen, 'X-Forwarded-For')).toEqual(['198.51.100.1, 203.0.113.7, 127.0.0.1']);
    expect((await logLine(trusting, res.headers['x-request-id'] as string)).client).toBe('203.0.113.7');
  });

  it('without a chain the peer starts one; an unknown proto becomes http', async () => {
    const { seen } = await through(trusting, '/public/x', [['X-Forwarded-Proto', 'gopher']]);
    expect(headerValues(seen, 'X-Forwarded-For')).toEqual(['127.0.0.1']);
    expect(headerValues(seen, 'X-Forwarded-Proto')).toEqual(['http']);
  });

  it('still strips Forwarded, X-Real-IP, X-Original-URL and identity headers, and never routes on them', async () => {
    const { seen } = await through(trusting, '/public/x', [['Forwarded', 'for=1.2.3.4'], ['X-Real-IP', '1.2.3.4'], ['X-Original-URL', '/admin/x'], ...SPOOFS]);
    expect(seen.url).toBe('/public/x');
    for (const name of ['Forwarded', 'X-Original-URL']) expect(headerValues(seen, name), name).toEqual([]);
    expect(headerValues(seen, 'X-Real-IP')).toEqual(['127.0.0.1']);
    expectNoIdentity(seen);
    const { result, seen: none } = await seenDuring(up, () => raw(trusting, '/internal/x', [['X-Forwarded-Host', 'internal.example']]));
    expectError(result, 404, 'not_found');
    expect(none).toEqual([]);
  });
});

describe('hop-by-hop headers stop at Gatehouse', () => {
  it('Connection-named, Keep-Alive, TE, Trailer, Upgrade, Proxy-Authorization, Proxy-Connection are not forwarded', async () => {
    const { seen } = await through(g, '/public/x', [
      ['Connection', 'close, X-Foo, x-BAR'],
      ['X-Foo', '1'],
      ['X-Bar', '2'],
      ['Keep-Alive', 'timeout=5'],
      ['TE', 'trailers'],
      ['Trailer', 'X-Checksum'],
      ['Upgrade', 'h2c'],
      ['Proxy-Authorization', 'Basic dXNlcjpwYXNz'],
      ['Proxy-Connection', 'keep-alive'],
      ['X-Other', 'kept'],
    ]);
    for (const name of ['X-Foo', 'X-Bar', 'Keep-Alive', 'TE', 'Trailer', 'Upgrade', 'Proxy-Authorization', 'Proxy-Connection']) {
      expect(headerValues(seen, name), name).toEqual([]);
    }
    for (const value of headerValues(seen, 'Connection')) expect(value.toLowerCase()).not.toMatch(/x-foo|x-bar|close/);
    expect(headerValues(seen, 'X-Other')).toEqual(['kept']);
  });
});

describe('X-Request-Id', () => {
  it.each(['req-123', 'A1b2.c3_d4:e5-f6', 'x'.repeat(128)])('a sane id %s is kept, sent upstream and returned', async (id) => {
    const { res, seen } = await through(g, '/public/x', [['X-Request-Id', id]]);
    expect(res.headers['x-request-id']).toBe(id);
    expect(headerValues(seen, 'X-Request-Id')).toEqual([id]);
  });

  it.each([
    ['200 characters', 'a'.repeat(200)],
    ['129 characters', 'a'.repeat(129)],
    ['spaces', 'a b c'],
    ['quotes and angle brackets', '"><script>'],
    ['a list', 'abc,def'],
    ['non-ASCII', 'id-\u00e9'],
  ])('an id with %s is replaced by a generated one, upstream and client alike', async (_label, id) => {
    const { res, seen } = await through(g, '/public/x', [['X-Request-Id', id]]);
    const given = res.headers['x-request-id'] as string;
    expect(given).toMatch(UUID);
    expect(headerValues(seen, 'X-Request-Id')).toEqual([given]);
  });

  it('two X-Request-Id headers: one generated id upstream', async () => {
    const { res, seen } = await through(g, '/public/x', [
      ['X-Request-Id', 'one'],
      ['X-Request-Id', 'two'],
    ]);
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(headerValues(seen, 'X-Request-Id')).toEqual([res.headers['x-request-id']]);
  });

  it("is on error responses too, equal to the body's request_id", async () => {
    const kept = await raw(g, '/nowhere', [['X-Request-Id', 'trace-404']]);
    expect(expectError(kept, 404, 'not_found').request_id).toBe('trace-404');
    const denied = await raw(g, '/admin/x', [['X-Request-Id', 'bad id']]);
    expect(expectError(denied, 401, 'unauthorized').request_id).toMatch(UUID);
    const bad = await raw(g, '/public/..%2f', [['X-Request-Id', 'trace-400']]);
    expect(expectError(bad, 400, 'invalid_request').request_id).toBe('trace-400');
  });

  it('the upstream cannot replace it on the response', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'x-request-id': 'upstream-chosen', 'content-type': 'text/plain' });
      res.end('ok');
    };
    try {
      const { res } = await through(g, '/public/x', [['X-Request-Id', 'client-chosen']]);
      expect(res.headers['x-request-id']).toBe('client-chosen');
      expect(res.raw.match(/^x-request-id:/gim)).toHaveLength(1);
    } finally {
      up.handler = null;
    }
  });
});

describe('identity.forwardToken: false', () => {
  it('removes Authorization upstream on protected routes, keeps the identity headers', async () => {
    const token = await alice();
    const { seen } = await through(noToken, '/api/x', [['Authorization', `Bearer ${token}`]]);
    expect(headerValues(seen, 'Authorization')).toEqual([]);
    expect(JSON.stringify(seen.rawHeaders)).not.toContain(token);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['alice']);
  });

  it('removes it on optional routes when a token was used', async () => {
    const token = await alice();
    const { seen } = await through(noToken, '/maybe/x', [['authorization', `bearer ${token}`]]);
    expect(headerValues(seen, 'Authorization')).toEqual([]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['alice']);
  });

  it('with forwardToken: true (default) the upstream gets the same Authorization, once', async () => {
    const token = await alice();
    const { seen } = await through(g, '/api/x', [['Authorization', `Bearer ${token}`]]);
    expect(headerValues(seen, 'Authorization')).toEqual([`Bearer ${token}`]);
  });
});

describe('claim values in headers', () => {
  it('non-ASCII claims are percent-encoded UTF-8', async () => {
    const token = await alice({ name: 'Zo\u00eb \u65e5\u672c', email: 'j\u00fcrgen@b\u00fccher.example' });
    const { seen } = await through(g, '/api/x', [['Authorization', `Bearer ${token}`]]);
    expect(headerValues(seen, 'X-User-Name')).toEqual(['Zo%C3%AB%20%E6%97%A5%E6%9C%AC']);
    expect(decodeURIComponent(headerValues(seen, 'X-User-Name')[0] as string)).toBe('Zo\u00eb \u65e5\u672c');
    expect(headerValues(seen, 'X-User-Email')).toEqual(['j%C3%BCrgen@b%C3%BCcher.example']);
  });

  it('CR/LF in claims never split a header line', async () => {
    const token = await signToken(
      key,
      { roles: ['user'], name: 'Eve\r\nX-Injected: 1', email: 'e@x\nX-Also: 1\r\n\r\nGET /admin HTTP/1.1' },
      { iss: ISS, sub: 'bob\r\nX-User-Roles: admin' },
    );
    const { seen } = await through(g, '/api/x', [['Authorization', `Bearer ${token}`]]);
    expect(headerValues(seen, 'X-User-Id')).toEqual(['bob%0D%0AX-User-Roles:%20admin']);
    expect(headerValues(seen, 'X-User-Roles')).toEqual(['user']);
    expect(headerValues(seen, 'X-User-Name')).toEqual(['Eve%0D%0AX-Injected:%201']);
    expect(headerValues(seen, 'X-Injected')).toEqual([]);
    expect(headerValues(seen, 'X-Also')).toEqual([]);
    expect(up.seen.some((s) => s.url === '/admin')).toBe(false);
  });

  it('array claims are joined with ","; each element is encoded on its own, so an element cannot add one', async () => {
    const token = await signToken(key, { roles: ['user', 'ops\r\nX-Evil: 1', 'guest,admin', 'caf\u00e9'] }, { iss: ISS });
    const { seen } = await through(g, '/api/x', [['Authorization', `Bearer ${token}`]]);
    expect(headerValues(seen, 'X-User-Roles')).toEqual(['user,ops%0D%0AX-Evil:%201,guest%2Cadmin,caf%C3%A9']);
    expect(headerValues(seen, 'X-Evil')).toEqual([]);
    expect((headerValues(seen, 'X-User-Roles')[0] as string).split(',')).not.toContain('admin');
  });
});
