import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import type { SeenRequest, TestUpstream } from '../helpers/upstream.js';
import { startUpstream } from '../helpers/upstream.js';
import { expectRawError, meansAdmin, raw, seenDuring } from './support.js';

/**
 * SECURITY.md P07-P17 and P27 end to end: one upstream behind three routes
 * (public prefix, admin-only prefix, public catch-all). Whatever trick the
 * target uses, a caller without a token must never get an admin path to the
 * upstream: either Gatehouse refuses (400) without calling it, or the admin
 * rule applies (401), or the upstream sees exactly the normalised path under a
 * public rule, and that path does not mean /admin to any common backend.
 */

const ISS = 'https://gatehouse.test';
let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      { name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' },
      { name: 'admin', match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } },
      { name: 'rest', match: { path: '/**' }, upstream: up.url, auth: 'public' },
    ],
  });
});
afterAll(async () => {
  await g.stop();
  await up.close();
});


it('the oracle recognises the classic bypass shapes', () => {
  for (const u of ['/admin', '/admin/x', '//admin', '/public/../admin', '/public/%2e%2e/admin', '/public/..%2fadmin', '/public/..\\admin', '/;x/admin', '/public/..;/admin', '/%61dmin', '/admin;x=1']) {
    expect(meansAdmin(u), u).toBe(true);
  }
  for (const u of ['/public/admin', '/public/x', '/Admin', '/administrator', '/public/%252e%252e/admin']) expect(meansAdmin(u), u).toBe(false);
});

type Want = 400 | 401 | { upstream: string };

const TRICKS: Array<[target: string, want: Want, why: string]> = [
  ['/public/../admin', 401, 'P07'],
  ['/public/../admin/users', 401, 'P07 deeper'],
  ['/public/%2e%2e/admin', 401, 'P08 %2e%2e'],
  ['/public/%2E%2E/admin', 401, 'P08 %2E%2E'],
  ['/public/.%2e/admin', 401, 'P08 .%2e'],
  ['/public/%2e./admin', 401, 'P08 %2e.'],
  ['/public/%2e/../admin', 401, 'encoded "." then ".."'],
  ['/public/..%2fadmin', 400, 'P09 ..%2f'],
  ['/public/..%2Fadmin', 400, 'P09 ..%2F'],
  ['/public%2f..%2fadmin', 400, 'P09 %2f..%2f'],
  ['/public/%2e%2e%2fadmin', 400, 'P09 fully encoded'],
  ['/public/..%5cadmin', 400, 'P10 ..%5c'],
  ['/public/..\\admin', 400, 'P10 raw backslash'],
  ['/public\\..\\admin', 400, 'P10 raw backslashes only'],
  ['//admin', 401, 'P11 //'],
  ['///admin', 401, 'P11 ///'],
  ['//admin/users', 401, 'P11 // deeper'],
  ['/./admin', 401, '"." segment'],
  ['/admin/', 401, 'trailing slash'],
  ['/admin/.', 401, 'trailing "."'],
  ['/admin;x=1', 401, 'P12 params'],
  ['/admin;jsessionid=1/users', 401, 'P12 params mid-path'],
  ['/public/..;/admin', 400, 'P12 Tomcat ..;/'],
  ['/public/..;x=1/admin', 400, 'P12 ..;x=1'],
  ['/public/%2e%2e;/admin', 400, 'P12 encoded ..;'],
  ['/;x/admin', 400, 'empty segment with params'],
  ['/;/admin', 400, 'bare ";"'],
  ['/%61dmin', 401, 'P13 %61'],
  ['/%61%64%6d%69%6e/users', 401, 'P13 fully encoded'],
  ['/admin%00', 400, 'P14 NUL'],
  ['/admin%00/users', 400, 'P14 NUL mid-path'],
  ['/public/..%00/admin', 400, 'P14 NUL after dots'],
  ['/admin%0d%0aX-Injected:%201', 400, 'encoded CRLF'],
  ['/public/..%c0%af../admin', { upstream: '/public/..%C0%AF../admin' }, 'P15 overlong "/" stays opaque under the public rule'],
  ['/public/%c0%ae%c0%ae/admin', { upstream: '/public/%C0%AE%C0%AE/admin' }, 'P15 overlong "." stays opaque'],
  ['/public/%ff/../admin', { upstream: '/public/admin' }, 'P15 %ff is one segment'],
  ['/public/%ff/../../admin', 401, 'P15 %ff, then out of public'],
  ['/public/%ff', { upstream: '/public/%FF' }, 'P15 %ff'],
  ['/public/%252e%252e/admin', { upstream: '/public/%252e%252e/admin' }, 'double encoding decoded once'],
  ['/public/%u002e%u002e/admin', 400, 'IIS %u'],
  ['/public/../../admin', 400, 'climbs above the root'],
  ['/../admin', 400, 'climbs above the root at once'],
  ['/%2e%2e/admin', 400, 'encoded climb above the root'],
  ['/admin#x', 400, 'fragment'],
  ['/public/x#/../../admin', 400, 'fragment hiding dots'],
  ['/public/x?/../admin', { upstream: '/public/x?/../admin' }, 'dots in the query are data'],
  ['/x/../admin?next=/public', 401, 'query does not change the rule'],
];

describe('path tricks without a token never reach an admin path (P07-P15)', () => {
  it.each(TRICKS)('%s -> %j (%s)', async (target, want) => {
    const { result, seen } = await seenDuring(up, () => raw(g, target));
    for (const s of seen) expect(meansAdmin(s.url), `upstream saw ${s.url}`).toBe(false);
    if (want === 400) {
      expectRawError(result, 400, 'invalid_request');
      expect(seen).toEqual([]);
    } else if (want === 401) {
      expectRawError(result, 401, 'unauthorized');
      expect(result.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
      expect(seen).toEqual([]);
    } else {
      expect(result.status).toBe(200);
      expect(seen.map((s: SeenRequest) => s.url)).toEqual([want.upstream]);
    }
  });

  it('the same tricks with a non-admin token: 400 or 403, upstream never sees /admin', async () => {
    const user = await signToken(key, { roles: ['user'] }, { iss: ISS });
    for (const [target, want] of TRICKS) {
      const { result, seen } = await seenDuring(up, () => raw(g, target, [['Authorization', `Bearer ${user}`]]));
      for (const s of seen) expect(meansAdmin(s.url), `${target}: upstream saw ${s.url}`).toBe(false);
      if (want === 400) expectRawError(result, 400, 'invalid_request');
      else if (want === 401) expectRawError(result, 403, 'insufficient_scope');
      else expect(result.status, target).toBe(200);
    }
  });

  it('an admin token reaches exactly the normalised admin path (the rules really apply)', async () => {
    const admin = await signToken(key, { roles: ['admin'] }, { iss: ISS });
    for (const [target, normalised] of [
      ['/public/../admin', '/admin'],
      ['//admin/users', '/admin/users'],
      ['/%61dmin', '/admin'],
      ['/admin;x=1', '/admin;x=1'],
      ['/public/%2E%2E/admin?x=/../y', '/admin?x=/../y'],
    ] as const) {
      const { result, seen } = await seenDuring(up, () => raw(g, target, [['Authorization', `Bearer ${admin}`]]));
      expect(result.status, target).toBe(200);
      expect(seen.map((s) => s.url)).toEqual([normalised]);
    }
  });

  it('a public request is forwarded with its normalised path and its query verbatim', async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/public/a/./b//c/../d?x=%2F..&y=%61'));
    expect(result.status).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/public/a/b/d?x=%2F..&y=%61']);
  });
});

describe('request framing around the route decision', () => {
  it('two Authorization headers -> 400 invalid_request, upstream not called (P27)', async () => {
    const admin = await signToken(key, { roles: ['admin'] }, { iss: ISS });
    const user = await signToken(key, { roles: ['user'] }, { iss: ISS });
    for (const pair of [
      [admin, admin],
      [user, admin],
      [admin, user],
    ]) {
      const { result, seen } = await seenDuring(up, () =>
        raw(g, '/admin/x', [
          ['Authorization', `Bearer ${pair[0]}`],
          ['Authorization', `Bearer ${pair[1]}`],
        ]),
      );
      expectRawError(result, 400, 'invalid_request');
      expect(seen).toEqual([]);
    }
  });

  it.each([
    ['http://internal/admin', 'absolute-form to another host'],
    ['http://internal/public/x', 'absolute-form, public path'],
    ['http://127.0.0.1:UPSTREAM/admin', 'absolute-form naming the upstream itself'],
    ['https://127.0.0.1:UPSTREAM/public/x', 'absolute-form https'],
  ])('%s -> 400, the target never chooses the upstream (P16: %s)', async (target) => {
    const { result, seen } = await seenDuring(up, () => raw(g, target.replace('UPSTREAM', String(up.port))));
    expectRawError(result, 400, 'invalid_request');
    expect(seen).toEqual([]);
  });

  it('asterisk-form (OPTIONS *) -> 400, upstream not called', async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '*', [], { method: 'OPTIONS' }));
    expectRawError(result, 400, 'invalid_request');
    expect(seen).toEqual([]);
  });

  it.each([
    ['duplicate Host', [['Host', 'other.example']], undefined],
    ['duplicate Host, same value', [['Host', 'PORT']], undefined],
    ['Host with userinfo', [], 'user:pass@127.0.0.1'],
    ['Host with userinfo, no password', [], 'admin@127.0.0.1'],
    ['Host with a path', [], '127.0.0.1/admin'],
    ['Host with a query', [], '127.0.0.1?x'],
    ['Host with two ports', [], '127.0.0.1:80:80'],
    ['Host with a space', [], '127.0.0.1 evil'],
    ['empty Host', [], ''],
  ] as Array<[string, Array<[string, string]>, string | undefined]>)('%s -> 400 invalid_request, connection closed, upstream not called (P17)', async (_label, extra, host) => {
    for (const path of ['/public/x', '/admin/x']) {
      const headers = extra.map(([k, v]): [string, string] => [k, v === 'PORT' ? new URL(g.url).host : v]);
      const { result, seen } = await seenDuring(up, () => raw(g, path, headers, host === undefined ? {} : { host }));
      expectRawError(result, 400, 'invalid_request');
      expect(result.closed).toBe(true);
      expect(seen).toEqual([]);
    }
  });

  it('missing Host on HTTP/1.1 -> 400 invalid_request with the JSON body, upstream not called (P17)', async () => {
    for (const path of ['/public/x', '/admin/x']) {
      const { result, seen } = await seenDuring(up, () => raw(g, path, [], { host: null }));
      expectRawError(result, 400, 'invalid_request');
      expect(result.closed).toBe(true);
      expect(seen).toEqual([]);
    }
  });

  it('HTTP/1.0 may omit Host; the route rules still apply', async () => {
    const pub = await seenDuring(up, () => raw(g, '/public/x', [], { host: null, version: 'HTTP/1.0' }));
    expect(pub.result.status).toBe(200);
    expect(pub.seen.map((s) => s.url)).toEqual(['/public/x']);
    const adm = await seenDuring(up, () => raw(g, '/public/../admin', [], { host: null, version: 'HTTP/1.0' }));
    expectRawError(adm.result, 401, 'unauthorized');
    expect(adm.seen).toEqual([]);
  });
});
