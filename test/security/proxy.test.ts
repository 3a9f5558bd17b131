import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MISSING_TOKEN_DESCRIPTION } from '../../src/errors.js';
import { MISSING_TOKEN_CHALLENGE as CHALLENGE, expectError } from '../helpers/expect.js';
import { requestLog, startGateway, type TestGateway } from '../helpers/gateway.js';
import { headerValues, portOf, raw, seenDuring } from '../helpers/http.js';
import { hashed, usersFile } from '../helpers/issuer.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { meansAdmin } from '../helpers/paths.js';
import { rawRequest, type RawResponse } from '../helpers/raw.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';

/**
 * SECURITY.md §3, P01-P28: the proxy layer, end to end through a real gateway
 * in front of a real keep-alive upstream. The route table has a public prefix,
 * a token-required prefix, an admin-only prefix and a public catch-all on the
 * same upstream, so that a path trick which lands anywhere still reaches the
 * upstream and is caught by looking at what it saw. Every case starts from a
 * request shown to succeed and changes only the part under attack.
 */

const ISS = 'https://gatehouse.test';
const PASSWORD = 'correct horse battery staple';
const IDENTITY = ['x-user-id', 'x-user-roles', 'x-user-scopes'];

let key: TestKey;
let up: TestUpstream;
let g: TestGateway;
/** a second gateway without a catch-all (P18) and with 127.0.0.1 as a trusted proxy (P06) */
let g2: TestGateway;
let dir: string;
/** requests that reached the upstream at all, counted on arrival (before any body) */
let arrived = 0;
let user: string;
let admin: string;

beforeAll(async () => {
  key = await makeKey('ES256');
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-security-proxy-'));
  const users = usersFile([{ username: 'alice', password: await hashed(PASSWORD), roles: ['user'], scope: 'read' }], dir);
  up = await startUpstream();
  up.server.on('request', () => arrived++);
  g = await startGateway({
    server: { headersTimeout: '1s', requestTimeout: '2s', keepAliveTimeout: '1s', maxHeaderBytes: 16384 },
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk, dir) }], users: { file: users } },
    routes: [
      { name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' },
      { name: 'api', match: { path: '/api/**' }, upstream: up.url, auth: 'required' },
      { name: 'admin', match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } },
      { name: 'rest', match: { path: '/**' }, upstream: up.url, auth: 'public' },
    ],
  });
  g2 = await startGateway({
    server: { trustedProxies: ['127.0.0.1/32'] },
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk, dir) }] },
    routes: [
      { name: 'public-get', match: { path: '/public/**', methods: ['GET'] }, upstream: up.url, auth: 'public' },
      { name: 'admin', match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } },
    ],
  });
  user = await signToken(key, { roles: ['user'], scope: 'read' }, { iss: ISS, sub: 'alice' });
  admin = await signToken(key, { roles: ['admin'], scope: 'read write' }, { iss: ISS, sub: 'root' });
});

afterAll(async () => {
  await g?.stop();
  await g2?.stop();
  await up?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Headers = ReadonlyArray<readonly [string, string]>;
type Sent = { res: RawResponse; seen: SeenRequest[] };

/** One raw request to the main gateway and what the upstream received meanwhile. */
async function hit(
  target: string,
  headers: Headers = [],
  opts: { method?: string; host?: string | null; version?: string; gw?: TestGateway } = {},
): Promise<Sent> {
  const gw = opts.gw ?? g;
  const { result, seen } = await seenDuring(up, () => raw(gw, target, headers, opts));
  return { res: result, seen };
}

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];

/** Denied: status, the SPEC §5 body, no identity header on the reply, upstream not called. */
function expectDenied({ res, seen }: Sent, status: number, error: string, challenge?: string | RegExp): void {
  expectError(res, status, error);
  for (const h of IDENTITY) expect(res.headers[h]).toBeUndefined();
  expect(seen).toEqual([]);
  if (challenge instanceof RegExp) expect(res.headers['www-authenticate']).toMatch(challenge);
  else if (challenge !== undefined) expect(res.headers['www-authenticate']).toBe(challenge);
}

/** The one upstream request of a successful call. */
function forwarded({ res, seen }: Sent, url?: string): SeenRequest {
  expect(res.status, res.body).toBe(200);
  expect(res.headers['x-upstream']).toBe('yes');
  expect(seen).toHaveLength(1);
  const s = seen[0] as SeenRequest;
  if (url !== undefined) expect(s.url).toBe(url);
  return s;
}

const logLine = requestLog;

/** The logged `reason` (and `auth` outcome) of a request, found by the X-Request-Id the gateway answered with. */
async function logged(sent: Sent, gw: TestGateway = g): Promise<{ reason: unknown; auth: unknown }> {
  const id = sent.res.headers['x-request-id'];
  expect(id).toBeTruthy();
  const line = await logLine(gw, id as string);
  return { reason: line.reason, auth: line.auth };
}

describe('control: the valid requests every attack is built from', () => {
  it('public, token-required and admin routes all answer 200 for the right caller', async () => {
    forwarded(await hit('/public/x'), '/public/x');
    const s = forwarded(await hit('/api/x', [bearer(user)]), '/api/x');
    expect(headerValues(s, 'x-user-id')).toEqual(['alice']);
    forwarded(await hit('/admin/x', [bearer(admin)]), '/admin/x');
    expectDenied(await hit('/admin/x'), 401, 'unauthorized', CHALLENGE);
    expectDenied(await hit('/admin/x', [bearer(user)]), 403, 'insufficient_scope', /error="insufficient_scope"/);
  });
});

describe('identity and forwarding headers (P01-P06)', () => {
  const spoofed: Array<[string, string]> = [
    ['X-User-Id', 'mallory'],
    ['x-user-roles', 'admin'],
    ['X-USER-SCOPES', 'write'],
    ['X_User_Id', 'mallory'],
    ['x_user_roles', 'admin'],
    ['X-User_Scopes', 'write'],
  ];

  it('P01-P03 client-sent identity headers (any case, "_" aliases) never reach the upstream; protected routes carry exactly Gatehouse\'s one value', async () => {
    // protected: exactly one value of each, Gatehouse's
    const s = forwarded(await hit('/api/x', [...spoofed, bearer(user)]), '/api/x');
    expect(headerValues(s, 'x-user-id')).toEqual(['alice']);
    expect(headerValues(s, 'x-user-roles')).toEqual(['user']);
    expect(headerValues(s, 'x-user-scopes')).toEqual(['read']);
    expect(s.rawHeaders.join('\n')).not.toMatch(/mallory/);
    // public: none at all
    const p = forwarded(await hit('/public/x', spoofed), '/public/x');
    for (const h of IDENTITY) expect(headerValues(p, h)).toEqual([]);
    expect(p.rawHeaders.join('\n')).not.toMatch(/mallory/);
    // a spoofed role grants nothing: the admin rule reads the token, not headers
    expectDenied(await hit('/admin/x', [...spoofed, bearer(user)]), 403, 'insufficient_scope', /error="insufficient_scope"/);
    expectDenied(await hit('/admin/x', spoofed), 401, 'unauthorized', CHALLENGE);
  });

  it('P04 "Connection: ..., X-User-Id, Authorization, X-Forwarded-For" cannot remove Gatehouse\'s headers', async () => {
    for (const conn of ['close, X-User-Id', 'keep-alive, x-user-id, X-User-Roles, X-Forwarded-For, X-Forwarded-Proto', 'close, Authorization, X_User_Id']) {
      const s = forwarded(await hit('/api/x', [bearer(user), ['X-User-Id', 'mallory'], ['Connection', conn]]), '/api/x');
      expect(headerValues(s, 'x-user-id'), conn).toEqual(['alice']);
      expect(headerValues(s, 'x-user-roles'), conn).toEqual(['user']);
      expect(headerValues(s, 'x-forwarded-for'), conn).toEqual(['127.0.0.1']);
      expect(headerValues(s, 'x-forwarded-proto'), conn).toEqual(['http']);
    }
    // naming Authorization does not skip authentication on a protected route
    expectDenied(await hit('/admin/x', [bearer(user), ['Connection', 'close, Authorization']]), 403, 'insufficient_scope');
  });

  it('P05-P06 X-Forwarded-*/Forwarded/X-Original-URL/X-Rewrite-URL never route, never authorise, are overwritten; client IP walks only trusted proxies', async () => {
    const forged: Array<[string, string]> = [
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-Host', 'admin.internal'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Prefix', '/admin'],
      ['X-Forwarded-Port', '443'],
      ['Forwarded', 'for=10.0.0.1;host=admin.internal;proto=https'],
      ['X-Original-URL', '/admin/x'],
      ['X-Rewrite-URL', '/admin/x'],
      ['X-Original-URI', '/admin/x'],
      ['X-Real-IP', '10.0.0.1'],
    ];
    const id = `p05-${crypto.randomUUID()}`;
    const s = forwarded(await hit('/public/x', [...forged, ['X-Request-Id', id]]), '/public/x');
    expect(headerValues(s, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(headerValues(s, 'x-forwarded-proto')).toEqual(['http']);
    for (const h of ['forwarded', 'x-forwarded-prefix', 'x-original-url', 'x-rewrite-url', 'x-original-uri']) expect(headerValues(s, h), h).toEqual([]);
    expect(headerValues(s, 'x-real-ip')).toEqual(['127.0.0.1']);
    for (const h of ['x-forwarded-host', 'x-forwarded-port']) expect(headerValues(s, h).join(), h).not.toMatch(/admin\.internal|443/);
    expect((await logLine(g, id)).client).toBe('127.0.0.1');
    // the headers neither reach nor avoid the admin rule
    expectDenied(await hit('/admin/x', forged), 401, 'unauthorized', CHALLENGE);
    expectDenied(
      await hit('/admin/x', [
        ...forged.map(([k]): [string, string] => [k, k.includes('URL') || k.includes('URI') || k.includes('Prefix') ? '/public/x' : '127.0.0.1']),
        bearer(user),
      ]),
      403,
      'insufficient_scope',
    );
    // trusted proxy chain: walked right to left past trusted hops only, the forged left-most entry is never believed
    const id2 = `p06-${crypto.randomUUID()}`;
    const t = forwarded(
      await hit(
        '/public/x',
        [
          ['X-Forwarded-For', '6.6.6.6, 10.0.0.5, 127.0.0.1'],
          ['X-Request-Id', id2],
        ],
        { gw: g2 },
      ),
      '/public/x',
    );
    expect((await logLine(g2, id2)).client).toBe('10.0.0.5');
    // README: a trusted peer's chain is kept and the peer appended (an upstream reads it right to left, as Gatehouse did)
    expect(headerValues(t, 'x-forwarded-for')).toEqual(['6.6.6.6, 10.0.0.5, 127.0.0.1, 127.0.0.1']);
  });
});

type Want = 400 | 401 | { upstream: string };

/** P07-P15 and their relatives: target -> what must happen without a token (400 refused, 401 admin rule, or the exact normalised public path). */
const TRICKS: Record<string, Array<[string, Want]>> = {
  '/public/../admin (P07)': [
    ['/public/../admin', 401],
    ['/public/../admin/users', 401],
  ],
  '%2e%2e, %2E%2E, .%2e (P08)': [
    ['/public/%2e%2e/admin', 401],
    ['/public/%2E%2E/admin', 401],
    ['/public/.%2e/admin', 401],
    ['/public/%2e./admin', 401],
    ['/public/%2e/../admin', 401],
    ['/public/%2E%2E/admin?x=/../y', 401],
  ],
  '..%2f, %2f..%2f (P09)': [
    ['/public/..%2fadmin', 400],
    ['/public/..%2Fadmin', 400],
    ['/public%2f..%2fadmin', 400],
    ['/public/%2e%2e%2fadmin', 400],
  ],
  '..%5c, ..\\ (P10)': [
    ['/public/..%5cadmin', 400],
    ['/public/..\\admin', 400],
    ['/public\\..\\admin', 400],
  ],
  '//admin, ///admin (P11)': [
    ['//admin', 401],
    ['///admin', 401],
    ['//admin/users', 401],
  ],
  '/admin;x=1, /public/..;/admin (P12)': [
    ['/admin;x=1', 401],
    ['/admin;jsessionid=1/users', 401],
    ['/public/..;/admin', 400],
    ['/public/..;x=1/admin', 400],
    ['/public/%2e%2e;/admin', 400],
    ['/public/..%3b/admin', 400],
    ['/;x/admin', 400],
    ['/;/admin', 400],
  ],
  '/%61dmin (P13)': [
    ['/%61dmin', 401],
    ['/%61%64%6d%69%6e/users', 401],
    ['/public/%252e%252e/admin', 400], // double encoding is refused (security round 2, E01)
  ],
  '/admin%00 (P14)': [
    ['/admin%00', 400],
    ['/admin%00/users', 400],
    ['/public/..%00/admin', 400],
    ['/admin%0d%0aX-Injected:%201', 400],
  ],
  '%c0%af, %ff (P15): invalid and overlong UTF-8 is refused (security round 2, E02)': [
    ['/public/..%c0%af../admin', 400],
    ['/public/%c0%ae%c0%ae/admin', 400],
    ['/public/%ff/../admin', 400],
    ['/public/%ff/../../admin', 400],
    ['/public/%ff', 400],
    ['/public/caf%c3%a9', { upstream: '/public/caf%C3%A9' }],
  ],
  'dot segments, climbing above the root, %u, fragments, the query': [
    ['/./admin', 401],
    ['/admin/', 401],
    ['/admin/.', 401],
    ['/public/%u002e%u002e/admin', 400],
    ['/public/../../admin', 400],
    ['/../admin', 400],
    ['/%2e%2e/admin', 400],
    ['/admin#x', 400],
    ['/public/x#/../../admin', 400],
    ['/public/x?/../admin', { upstream: '/public/x?/../admin' }],
    ['/x/../admin?next=/public', 401],
    ['/public/a/./b//c/../d?x=%2F..&y=%61', { upstream: '/public/a/b/d?x=%2F..&y=%61' }],
  ],
};

/** Where an admin token lands for some of the 401 targets: the normalised path, the query verbatim. */
const ADMIN_PATH: Record<string, string> = {
  '/public/../admin': '/admin',
  '//admin/users': '/admin/users',
  '/%61dmin': '/admin',
  '/admin;x=1': '/admin;x=1',
  '/public/%2E%2E/admin?x=/../y': '/admin?x=/../y',
};

describe('P07-P15 path tricks: the normalised path or 400, never an upstream hit under a rule not passed', () => {
  it.each(Object.keys(TRICKS))('%s', async (group) => {
    for (const [target, want] of TRICKS[group] as Array<[string, Want]>) {
      // no token: the admin rule applies, or 400, or a public path that means nothing else
      const anon = await hit(target);
      for (const s of anon.seen) expect(meansAdmin(s.url), `${target}: upstream saw ${s.url}`).toBe(false);
      if (want === 400) {
        expectDenied(anon, 400, 'invalid_request');
        expect((await logged(anon)).reason, target).toBe('bad_path');
      } else if (want === 401) {
        expectDenied(anon, 401, 'unauthorized', CHALLENGE);
        expect((await logged(anon)).reason, target).toBe('no_token');
      } else forwarded(anon, want.upstream);
      // a non-admin token: same decision (403 for the admin rule)
      const usr = await hit(target, [bearer(user)]);
      for (const s of usr.seen) expect(meansAdmin(s.url), `${target}: upstream saw ${s.url}`).toBe(false);
      if (want === 400) expectDenied(usr, 400, 'invalid_request');
      else if (want === 401) expectDenied(usr, 403, 'insufficient_scope');
      else expect(usr.res.status, target).toBe(200);
      // an admin token reaches the normalised admin path, nothing else
      if (want === 401) {
        const adm = await hit(target, [bearer(admin)]);
        expect(adm.res.status, target).toBe(200);
        expect(adm.seen).toHaveLength(1);
        const url = (adm.seen[0] as SeenRequest).url;
        expect(meansAdmin(url), target).toBe(true);
        expect(url, target).toMatch(/^\/admin([/;?]|$)/);
        if (ADMIN_PATH[target] !== undefined) expect(url, target).toBe(ADMIN_PATH[target]);
      }
    }
  });
});

describe('request target, Host and routing (P16-P18)', () => {
  it('P16 absolute-form targets never choose the upstream -> 400', async () => {
    forwarded(await hit('/admin/x', [bearer(admin)]), '/admin/x');
    for (const target of ['http://internal/admin', 'http://internal/public/x', `http://127.0.0.1:${up.port}/admin`, `https://127.0.0.1:${up.port}/public/x`]) {
      expectDenied(await hit(target), 400, 'invalid_request');
      expectDenied(await hit(target, [bearer(admin)]), 400, 'invalid_request');
    }
    expectDenied(await hit('*', [], { method: 'OPTIONS' }), 400, 'invalid_request');
  });

  it('P17 missing or duplicate Host, Host with userinfo or path -> 400, connection closed', async () => {
    const cases: Array<[Headers, string | null | undefined]> = [
      [[], null],
      [[['Host', 'other.example']], undefined],
      [[['Host', `127.0.0.1:${portOf(g)}`]], undefined],
      [[], 'user:pass@127.0.0.1'],
      [[], 'admin@127.0.0.1'],
      [[], '127.0.0.1/admin'],
      [[], '127.0.0.1?x'],
      [[], '127.0.0.1:80:80'],
      [[], '127.0.0.1 evil'],
      [[], ''],
    ];
    forwarded(await hit('/admin/x', [bearer(admin)]), '/admin/x');
    for (const [headers, host] of cases) {
      for (const path of ['/public/x', '/admin/x']) {
        for (const auth of [[], [bearer(admin)]]) {
          const sent = await hit(path, [...headers, ...auth], host === undefined ? {} : { host });
          expectDenied(sent, 400, 'invalid_request');
          expect(sent.res.closed, `${path} ${JSON.stringify([headers, host])}`).toBe(true);
          expect(['missing_host', 'duplicate_host', 'bad_host']).toContain((await logged(sent)).reason);
        }
      }
    }
    // HTTP/1.0 may omit Host; the route rules still apply
    forwarded(await hit('/public/x', [], { host: null, version: 'HTTP/1.0' }), '/public/x');
    expectDenied(await hit('/public/../admin', [], { host: null, version: 'HTTP/1.0' }), 401, 'unauthorized', CHALLENGE);
  });

  it('P18 an unmatched path or method is denied with 404, never allowed by default', async () => {
    forwarded(await hit('/public/x', [], { gw: g2 }), '/public/x');
    for (const [method, path] of [
      ['GET', '/nowhere'],
      ['GET', '/'],
      ['GET', '/publicity'],
      ['GET', '/ad'],
      ['DELETE', '/public/x'],
      ['POST', '/public/x'],
      ['PROPFIND', '/public/x'],
    ] as const) {
      const sent = await hit(path, [['Content-Length', '0']], { method, gw: g2 });
      expectDenied(sent, 404, 'not_found');
      expect((await logged(sent, g2)).reason).toBe('no_route');
    }
  });
});

const SMUGGLED = (host: string) => `GET /admin/smuggled HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

/** Sends `payload`, expects one 400 answer and a closed connection, and that the upstream received nothing at all. */
async function expect400c(payload: string, status = 400): Promise<RawResponse> {
  const before = arrived;
  const seenBefore = up.seen.length;
  const res = await rawRequest(portOf(g), payload, 200);
  expect(res.status, payload).toBe(status);
  expect(res.closed, payload).toBe(true);
  expect(res.raw.match(/HTTP\/1\.[01] \d{3}/g), payload).toHaveLength(1);
  const body = JSON.parse(res.body) as Record<string, string>;
  expect(body.error).toBe(status === 431 ? 'request_header_fields_too_large' : 'invalid_request');
  expect(body.error_description).toMatch(/.+/);
  expect(body.request_id).toBe(res.headers['x-request-id']);
  // give a desynchronised byte stream time to arrive anywhere
  await new Promise((r) => setTimeout(r, 50));
  expect(arrived, payload).toBe(before);
  expect(up.seen.slice(seenBefore)).toEqual([]);
  expect(up.seen.some((s) => s.url.includes('smuggled'))).toBe(false);
  return res;
}

describe('request smuggling (P19-P22): 400, connection closed, upstream receives nothing', () => {
  const h = () => `127.0.0.1:${portOf(g)}`;

  it('control: a keep-alive pipeline of two valid requests is answered twice, each authorised on its own', async () => {
    const before = up.seen.length;
    const res = await rawRequest(
      portOf(g),
      `GET /public/one HTTP/1.1\r\nHost: ${h()}\r\n\r\nGET /public/two HTTP/1.1\r\nHost: ${h()}\r\nConnection: close\r\n\r\n`,
      300,
    );
    expect(res.raw.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(up.seen.slice(before).map((s) => s.url)).toEqual(['/public/one', '/public/two']);
    const res2 = await rawRequest(portOf(g), `GET /public/one HTTP/1.1\r\nHost: ${h()}\r\n\r\n${SMUGGLED(h())}`, 300);
    expect(res2.raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 401']);
    expect(up.seen.some((s) => s.url.includes('smuggled'))).toBe(false);
  });

  it('P19 Content-Length with Transfer-Encoding (CL.TE and TE.CL) -> 400c', async () => {
    await expect400c(`POST /public/a HTTP/1.1\r\nHost: ${h()}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED(h())}`);
    await expect400c(`POST /public/a HTTP/1.1\r\nHost: ${h()}\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${SMUGGLED(h())}`);
    await expect400c(
      `POST /api/a HTTP/1.1\r\nHost: ${h()}\r\nAuthorization: Bearer ${user}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED(h())}`,
    );
  });

  it('P20 disguised Transfer-Encoding -> 400c', async () => {
    for (const te of [
      'Transfer-Encoding: chunked, identity',
      'Transfer-Encoding : chunked',
      'Transfer-Encoding: xchunked',
      'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity',
      'Transfer_Encoding: chunked\r\nContent-Length: 3\r\nTransfer-Encoding: chunked',
    ]) {
      await expect400c(`POST /public/a HTTP/1.1\r\nHost: ${h()}\r\n${te}\r\n\r\n0\r\n\r\n${SMUGGLED(h())}`);
    }
  });

  it('P21 Content-Length anomalies -> 400c', async () => {
    for (const cl of [
      'Content-Length: 5\r\nContent-Length: 60',
      'Content-Length: 5, 60',
      'Content-Length: +5',
      'Content-Length: -5',
      'Content-Length: 0x5',
      'Content-Length: 5 5',
    ]) {
      await expect400c(`POST /public/a HTTP/1.1\r\nHost: ${h()}\r\n${cl}\r\n\r\nhello${SMUGGLED(h())}`);
    }
    await expect400c(`POST /public/a HTTP/1.1\r\nHost: ${h()}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n${SMUGGLED(h())}`);
  });

  it('P22 bare LF, bare CR, obs-fold -> 400c', async () => {
    await expect400c(`GET /public/a HTTP/1.1\nHost: ${h()}\n\n${SMUGGLED(h())}`);
    await expect400c(`GET /public/a HTTP/1.1\r\nHost: ${h()}\nX-A: b\r\n\r\n${SMUGGLED(h())}`);
    await expect400c(`GET /public/a HTTP/1.1\r\nHost: ${h()}\r\nX-A: b\rX-B: c\r\n\r\n${SMUGGLED(h())}`);
    await expect400c(`GET /public/a HTTP/1.1\r\nHost: ${h()}\r\nX-A: one\r\n  two\r\n\r\n${SMUGGLED(h())}`);
    await expect400c(`POST /public/a HTTP/1.1\r\nHost: ${h()}\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\nhello${SMUGGLED(h())}`);
    await expect400c(`GET /public/a HTTP/1.1\r\nHost: ${h()}\r\nX-User-Id: a\r\n X-User-Roles: admin\r\n\r\n`);
  });
});

/** A TCP connection to the gateway with the time it was closed by the server. */
function openSocket(): Promise<{ socket: Socket; closedAt: Promise<number>; data: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(portOf(g), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const closedAt = new Promise<number>((r) => socket.once('close', () => r(performance.now())));
    socket.once('connect', () => resolve({ socket, closedAt, data: () => Buffer.concat(chunks).toString('latin1') }));
    socket.once('error', reject);
  });
}

describe('oversized and slow requests (P23-P24)', () => {
  it('P23 headers over server.maxHeaderBytes -> 431, connection closed, upstream receives nothing', async () => {
    const h = `127.0.0.1:${portOf(g)}`;
    // control: the same request with headers just under the limit is served
    forwarded(await hit('/public/a', [['X-Big', 'a'.repeat(12000)]]), '/public/a');
    const res = await expect400c(`GET /public/a HTTP/1.1\r\nHost: ${h}\r\nX-Big: ${'a'.repeat(17000)}\r\n\r\n${SMUGGLED(h)}`, 431);
    expectError(res, 431, 'request_header_fields_too_large');
    await expect400c(
      `GET /api/a HTTP/1.1\r\nHost: ${h}\r\nAuthorization: Bearer ${user}\r\n${Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(40)}\r\n`).join('')}\r\n`,
      431,
    );
  });

  it('P24 slowloris: dribbled headers are cut at headersTimeout (1s), a stalled body at requestTimeout (2s), an idle keep-alive at keepAliveTimeout (1s)', async () => {
    const before = arrived;
    // headers dribbled one line every 200 ms: never complete
    const slow = await openSocket();
    const t0 = performance.now();
    slow.socket.write(`GET /admin/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${admin}\r\n`);
    const drip = setInterval(() => slow.socket.writable && slow.socket.write(`X-Drip-${Math.random().toString(36).slice(2, 6)}: a\r\n`), 200);
    // a connection that sends nothing at all
    const silent = await openSocket();
    const t1 = performance.now();
    // a complete, authorised request head whose body never finishes
    const body = await openSocket();
    const t2 = performance.now();
    body.socket.write(`POST /public/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc`);
    // a keep-alive connection left idle after one good request
    const idle = await openSocket();
    idle.socket.write(`GET /public/idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const t3 = performance.now();
    try {
      const [c0, c1, c2, c3] = await Promise.all([slow.closedAt, silent.closedAt, body.closedAt, idle.closedAt]);
      expect(c0 - t0, 'dribbled headers').toBeLessThan(3000);
      expect(c0 - t0, 'dribbled headers').toBeGreaterThan(800);
      expect(c1 - t1, 'silent connection').toBeLessThan(3000);
      expect(c2 - t2, 'stalled body').toBeLessThan(4000);
      expect(c3 - t3, 'idle keep-alive').toBeLessThan(3000);
      expect(idle.data()).toMatch(/^HTTP\/1\.1 200/);
      // the cut requests are answered 408 with the JSON error before the close
      for (const s of [slow, silent, body]) expect(s.data()).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
      for (const s of [slow, silent, body, idle]) s.socket.destroy();
    }
    // the dribbled request never reached the upstream; nothing but the idle request and the (public, authorised) body did
    expect(up.seen.some((s) => s.url === '/admin/x' && s.rawHeaders.some((h) => h.startsWith('X-Drip')))).toBe(false);
    expect(up.seen.some((s) => s.url === '/public/slow')).toBe(false);
    expect(arrived - before).toBeLessThanOrEqual(2);
  }, 10_000);
});

describe('token service and credentials (P25-P28)', () => {
  it('P25 login and logout never redirect, whatever redirect_uri / next / returnTo say', async () => {
    const evil = 'redirect_uri=https%3A%2F%2Fevil.example%2Fcb&next=%2F%2Fevil.example&returnTo=https%3A%2F%2Fevil.example&continue=%2F%5Cevil.example';
    const login = await fetch(`${g.url}/auth/login?${evil}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD, redirect_uri: 'https://evil.example/cb', next: '//evil.example' }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('location')).toBeNull();
    expect(login.headers.get('refresh')).toBeNull();
    const tokens = (await login.json()) as { access_token: string; refresh_token: string };
    expect(typeof tokens.access_token).toBe('string');
    expect(JSON.stringify(tokens)).not.toMatch(/evil/);
    // a failed login does not redirect either
    const bad = await fetch(`${g.url}/auth/login?${evil}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'wrong', next: 'https://evil.example' }),
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('location')).toBeNull();
    await bad.text();
    // GET with a redirect parameter: not a redirect
    const get = await fetch(`${g.url}/auth/login?${evil}`, { redirect: 'manual' });
    expect(get.status).not.toBeLessThan(400);
    expect(get.headers.get('location')).toBeNull();
    await get.text();
    const logout = await fetch(`${g.url}/auth/logout?${evil}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.access_token}` },
      body: JSON.stringify({ refresh_token: tokens.refresh_token, post_logout_redirect_uri: 'https://evil.example' }),
    });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('location')).toBeNull();
    expect(logout.headers.get('refresh')).toBeNull();
    expect(await logout.text()).toBe('');
  });

  it('P26 scheme "bearer"/"BEARER" accepted; "Bearer\\tT", "BearerT", "Bearer T x" -> 400; Basic / Token -> 401 (no token)', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const s = forwarded(await hit('/api/x', [['Authorization', `${scheme} ${user}`]]), '/api/x');
      expect(headerValues(s, 'x-user-id')).toEqual(['alice']);
    }
    for (const value of [`Bearer\t${user}`, `Bearer${user}`, `Bearer ${user} x`, `Bearer  ${user}`, `Bearer ${user}, Bearer ${admin}`, 'Bearer', 'Bearer ']) {
      const sent = await hit('/api/x', [['Authorization', value]]);
      expectDenied(sent, 400, 'invalid_request');
      expect((await logged(sent)).reason).toBe('malformed_authorization');
    }
    for (const value of [`Basic ${Buffer.from('alice:' + PASSWORD).toString('base64')}`, 'Basic dXNlcjpwYXNz', `Token ${user}`, 'Token abc', `JWT ${user}`]) {
      const sent = await hit('/api/x', [['Authorization', value]]);
      expectDenied(sent, 401, 'unauthorized', CHALLENGE);
      expect((JSON.parse(sent.res.body) as { error_description: string }).error_description).toBe(MISSING_TOKEN_DESCRIPTION);
      expect((await logged(sent)).reason).toBe('not_bearer');
    }
  });

  it('P27 two Authorization lines (either order, same or different tokens) -> 400', async () => {
    forwarded(await hit('/admin/x', [bearer(admin)]), '/admin/x');
    for (const [a, b] of [
      [user, user],
      [user, admin],
      [admin, user],
      [admin, 'garbage'],
    ] as const) {
      for (const path of ['/api/x', '/admin/x']) {
        const sent = await hit(path, [bearer(a), ['authorization', `Bearer ${b}`]]);
        expectDenied(sent, 400, 'invalid_request');
        expect((await logged(sent)).reason).toBe('duplicate_authorization');
      }
    }
    // a second line with another scheme, or the same scheme in another case
    for (const second of ['Basic dXNlcjpwYXNz', `bearer ${user}`]) {
      for (const path of ['/api/x', '/admin/x']) {
        const sent = await hit(path, [bearer(user), ['authorization', second]]);
        expectDenied(sent, 400, 'invalid_request');
        expect((await logged(sent)).reason).toBe('duplicate_authorization');
      }
    }
  });

  it('P28 a token in the query string is refused (400) and never logged', async () => {
    const before = g.logs.raw.length;
    const ids: string[] = [];
    const withId = (extra: Headers): Headers => {
      const id = `p28-${crypto.randomUUID()}`;
      ids.push(id);
      return [...extra, ['X-Request-Id', id]];
    };
    forwarded(await hit('/admin/x?a=1', [bearer(admin)]), '/admin/x?a=1');
    // the query token alone, or next to a valid header
    expectDenied(await hit(`/api/x?access_token=${admin}`, withId([])), 400, 'invalid_request');
    expectDenied(await hit(`/api/x?a=1&access_token=${admin}`, withId([bearer(admin)])), 400, 'invalid_request');
    expectDenied(await hit(`/admin/x?access_token=${admin}`, withId([])), 400, 'invalid_request');
    // other spellings are simply not credentials: no token -> 401
    expectDenied(await hit(`/admin/x?token=${admin}&ACCESS_TOKEN=${admin}&access%5Ftoken=${admin}`, withId([])), 401, 'unauthorized', CHALLENGE);
    // a public route does not read credentials: forwarded as sent, with no identity
    const pub = forwarded(await hit(`/public/x?access_token=${admin}`, withId([])), `/public/x?access_token=${admin}`);
    for (const h of IDENTITY) expect(headerValues(pub, h)).toEqual([]);
    const lines = await Promise.all(ids.map((id) => logLine(g, id)));
    expect(lines.slice(0, 3).map((l) => l.reason)).toEqual(['token_in_query', 'token_in_query', 'token_in_query']);
    for (const l of lines) expect(String(l.path)).not.toContain('?');
    const text = g.logs.raw.slice(before).join('\n');
    const [h0, p0, s0] = admin.split('.') as [string, string, string];
    expect(text).not.toContain(admin);
    expect(text).not.toContain(p0);
    expect(text).not.toContain(s0);
    expect(text).not.toContain(h0 + '.');
  });
});

describe('logs (P28, O08)', () => {
  it('no token, signature or Authorization value used anywhere in this file appears in any log line', () => {
    const text = g.logs.text() + g2.logs.text();
    expect(g.logs.lines.length).toBeGreaterThan(50);
    for (const t of [user, admin]) {
      expect(text).not.toContain(t);
      expect(text).not.toContain(t.split('.')[2] as string);
    }
    expect(text).not.toMatch(/Bearer [A-Za-z0-9_-]{20}/i);
    expect(text).not.toContain(PASSWORD);
  });
});
