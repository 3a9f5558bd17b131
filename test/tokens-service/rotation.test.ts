/**
 * Refresh rotation, logout and revocation (SPEC §3) end to end, beyond what
 * SECURITY.md O01-O10 and J15 check (test/security/session.test.ts,
 * test/security/jwt.test.ts): a real gateway issuing real tokens, a real
 * upstream behind it, real expiry with short TTLs (no fake timers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect.js';
import { postForm, postJson, request } from '../helpers/http.js';
import {
  claimsOf,
  expectApiOk,
  expectApiRejected,
  expectRefreshRejected,
  expectTokens,
  forgeRefresh,
  hashed,
  login,
  oauthRefresh,
  refresh,
  startIssuer,
  untilExpired,
  type IssuerEnv,
  type UserEntry,
} from '../helpers/issuer.js';
import { makeKey, type TestKey } from '../helpers/keys.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';
const DAVE = 'dave@example.com';
const PW = { [ALICE]: 'alice-pw', [BOB]: 'bob-pw', [CAROL]: 'carol-pw', [DAVE]: 'dave-pw' } as const;

let users: UserEntry[];
let env: IssuerEnv;
/** accessTokenTtl 2s, refreshTokenTtl 3s, no clock tolerance: for real expiry */
let short: IssuerEnv;
let otherDeployment: TestKey;

const signIn = (who: keyof typeof PW, e: IssuerEnv = env, extra: Record<string, unknown> = {}) => login(e.g.url, who, PW[who], extra);

beforeAll(async () => {
  const [a, b, c, d] = await Promise.all([hashed(PW[ALICE]), hashed(PW[BOB]), hashed(PW[CAROL]), hashed(PW[DAVE])]);
  users = [
    { username: ALICE, password: a, roles: ['admin'], scope: 'orders:read orders:write', email: ALICE, name: 'Alice' },
    { username: BOB, password: b, roles: [], scope: 'orders:read', email: BOB, name: 'Bob' },
    { username: CAROL, password: c, roles: ['support'], scope: 'orders:read', email: CAROL, name: 'Carol' },
    { username: DAVE, password: d, roles: ['admin'], scope: 'orders:read orders:write', email: DAVE, name: 'Dave' },
  ];
  otherDeployment = await makeKey('ES256');
  [env, short] = await Promise.all([
    startIssuer({ users }),
    startIssuer({ users, issuer: { accessTokenTtl: '2s', refreshTokenTtl: '3s' }, verify: { clockTolerance: 0 } }),
  ]);
});

afterAll(async () => {
  await Promise.all([env?.stop(), short?.stop()]);
});

describe('rotation (RFC 9700 §4.14.2)', () => {
  it('a refresh returns a new pair for the same login session, and the new pair works', async () => {
    const first = await signIn(ALICE);
    const r = await refresh(env.g.url, first.refresh_token);
    const second = expectTokens(r);
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    const [rt1, rt2, at1, at2] = [claimsOf(first.refresh_token), claimsOf(second.refresh_token), claimsOf(first.access_token), claimsOf(second.access_token)];
    expect(rt2.jti).not.toBe(rt1.jti);
    expect(at2.jti).not.toBe(at1.jti);
    expect(rt2.sid).toBe(rt1.sid);
    expect(at2.sid).toBe(rt1.sid);
    expect(at2.sub).toBe(ALICE);
    const headers = await expectApiOk(env, second.access_token);
    expect(headers['x-user-id']).toBe(ALICE);
    // the new refresh token rotates again
    const third = expectTokens(await refresh(env.g.url, second.refresh_token));
    expect(claimsOf(third.refresh_token).sid).toBe(rt1.sid);
    await expectApiOk(env, third.access_token);
  });

  it("a replay through /oauth/token answers 400 invalid_grant and kills the family (O01 on /auth/refresh is the catalogue's)", async () => {
    const first = await signIn(BOB);
    const second = expectTokens(await oauthRefresh(env.g.url, first.refresh_token));
    expectError(await oauthRefresh(env.g.url, first.refresh_token), 400, 'invalid_grant');
    await expectRefreshRejected(env.g.url, second.refresh_token);
    await expectApiRejected(env, second.access_token);
  });
});

describe('logout (beyond SECURITY.md O04, O05)', () => {
  it('logout without a bearer token is 401 unauthorized and changes nothing', async () => {
    const s = await signIn(BOB);
    const out = await postJson(env.g.url, '/auth/logout', { refresh_token: s.refresh_token });
    expectError(out, 401, 'unauthorized');
    expect(out.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    await expectApiOk(env, s.access_token);
    expectTokens(await refresh(env.g.url, s.refresh_token));
  });
});

describe('RFC 7009 revocation (/oauth/revoke)', () => {
  const revoke = (token: string, extra: Record<string, string> = {}) => postForm(env.g.url, '/oauth/revoke', { token, client_id: 'cli', ...extra });

  it('revoking a refresh token kills its whole family', async () => {
    const s = await signIn(ALICE);
    const rotated = expectTokens(await refresh(env.g.url, s.refresh_token));
    const other = await signIn(ALICE);
    const r = await revoke(rotated.refresh_token);
    expect(r.status, r.text).toBe(200);
    await expectRefreshRejected(env.g.url, rotated.refresh_token);
    await expectApiRejected(env, rotated.access_token);
    await expectApiRejected(env, s.access_token);
    await expectApiOk(env, other.access_token);
  });

  it('revoking an access token kills that token', async () => {
    const s = await signIn(ALICE);
    const other = await signIn(ALICE);
    const r = await revoke(s.access_token, { token_type_hint: 'access_token' });
    expect(r.status, r.text).toBe(200);
    await expectApiRejected(env, s.access_token);
    expectError(await request(env.g.url, '/auth/profile', { token: s.access_token }), 401, 'invalid_token');
    await expectApiOk(env, other.access_token);
  });

  it('a request without a token is 400 invalid_request', async () => {
    expectError(await postForm(env.g.url, '/oauth/revoke', { client_id: 'cli' }), 400, 'invalid_request');
    expectError(await postForm(env.g.url, '/oauth/revoke', { token: '' }), 400, 'invalid_request');
  });
});

describe('refresh request bodies', () => {
  it('the `refreshToken` spelling is accepted on /auth/refresh; a missing token is 400 invalid_request', async () => {
    const s = await signIn(BOB);
    expectTokens(await postJson(env.g.url, '/auth/refresh', { refreshToken: s.refresh_token }));
    expectError(await postJson(env.g.url, '/auth/refresh', {}), 400, 'invalid_request');
    expectError(await postJson(env.g.url, '/auth/refresh', { refresh_token: 42 }), 400, 'invalid_request');
    expectError(await postForm(env.g.url, '/oauth/token', { grant_type: 'refresh_token' }), 400, 'invalid_request');
  });
});

describe('real expiry (accessTokenTtl 2s, refreshTokenTtl 3s)', () => {
  it('a rotated pair gets a fresh lifetime; the old access token expires on its own schedule', async () => {
    const s = await signIn(BOB, short);
    const next = expectTokens(await refresh(short.g.url, s.refresh_token));
    expect(next.expires_in).toBe(2);
    expect(next.refresh_expires_in).toBe(3);
    await untilExpired(s.access_token);
    await expectApiRejected(short, s.access_token);
    // the newer token was issued later, so it may still be alive; once it expires it is refused too
    await untilExpired(next.access_token);
    await expectApiRejected(short, next.access_token);
  });
});

describe('admin "log out everywhere"', () => {
  it('POST /admin/revoke {"sub"} kills existing access AND refresh tokens of that user only', async () => {
    const s1 = await signIn(CAROL);
    const s2 = await signIn(CAROL);
    const s2b = expectTokens(await refresh(env.g.url, s2.refresh_token));
    const bob = await signIn(BOB);
    const r = await fetch(`${env.g.adminUrl}/admin/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: CAROL }),
    });
    expect(r.status).toBe(204);
    const revokedAt = Date.now();
    for (const at of [s1.access_token, s2.access_token, s2b.access_token]) await expectApiRejected(env, at);
    for (const rt of [s1.refresh_token, s2b.refresh_token]) await expectRefreshRejected(env.g.url, rt);
    expectError(await request(env.g.url, '/auth/profile', { token: s2b.access_token }), 401, 'invalid_token');
    await expectApiOk(env, bob.access_token);
    expectTokens(await refresh(env.g.url, bob.refresh_token));
    // not locked out for good: once the second of the cut-off has passed, a new login works
    const nextSecond = (Math.floor(revokedAt / 1000) + 1) * 1000 + 20;
    if (nextSecond > Date.now()) await new Promise((res) => setTimeout(res, nextSecond - Date.now()));
    const again = await signIn(CAROL);
    await expectApiOk(env, again.access_token);
    expectTokens(await refresh(env.g.url, again.refresh_token));
  });
});

describe('admin revoke of a leaked token', () => {
  const adminRevoke = (body: unknown) =>
    fetch(`${env.g.adminUrl}/admin/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('POST /admin/revoke {"token": access token} kills that token and its login session', async () => {
    const s = await signIn(BOB);
    const other = await signIn(BOB);
    expect((await adminRevoke({ token: s.access_token })).status).toBe(204);
    await expectApiRejected(env, s.access_token);
    await expectRefreshRejected(env.g.url, s.refresh_token);
    await expectApiOk(env, other.access_token);
  });

  it('POST /admin/revoke {"token": refresh token} kills its login session', async () => {
    const s = await signIn(BOB);
    const other = await signIn(BOB);
    const r = await adminRevoke({ token: s.refresh_token });
    expect(r.status, await r.text()).toBe(204);
    await expectRefreshRejected(env.g.url, s.refresh_token);
    await expectApiRejected(env, s.access_token);
    await expectApiOk(env, other.access_token);
    expectTokens(await refresh(env.g.url, other.refresh_token));
  });

  it('POST /admin/revoke {"token": a forged refresh token naming a real session} is refused and ends nothing', async () => {
    const s = await signIn(BOB);
    const forged = await forgeRefresh(otherDeployment, { sub: BOB, sid: claimsOf(s.refresh_token).sid as string });
    const r = await adminRevoke({ token: forged });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toBe('invalid_request');
    await expectApiOk(env, s.access_token);
    expectTokens(await refresh(env.g.url, s.refresh_token));
  });
});

describe('refresh never widens what a login was granted (beyond SECURITY.md O09)', () => {
  it('a demoted user’s next access token lacks the old role and scope', async () => {
    const s = await signIn(DAVE);
    expect(claimsOf(s.access_token).roles).toEqual(['admin']);
    await expectApiOk(env, s.access_token, '/admin-area/stats');
    await expectApiOk(env, s.access_token, '/orders-write/1');

    const demoted = users.map((u) => (u.username === DAVE ? { ...u, roles: ['viewer'], scope: 'orders:read' } : u));
    await env.setUsers(demoted);
    try {
      const next = expectTokens(await refresh(env.g.url, s.refresh_token));
      const c = claimsOf(next.access_token);
      expect(c.roles).toEqual(['viewer']);
      expect(c.scope).toBe('orders:read');
      await expectApiRejected(env, next.access_token, 403, 'insufficient_scope', '/admin-area/stats');
      await expectApiRejected(env, next.access_token, 403, 'insufficient_scope', '/orders-write/1');
      const headers = await expectApiOk(env, next.access_token);
      expect(headers['x-user-roles']).toBe('viewer');
      const profile = await request(env.g.url, '/auth/profile', { token: next.access_token });
      expect(profile.status).toBe(200);
      expect((JSON.parse(profile.text) as { roles: string[] }).roles).toEqual(['viewer']);
      // promoting again does not widen the scope of this login (the login's grant is the ceiling) ...
      await env.setUsers(users);
      const again = expectTokens(await refresh(env.g.url, next.refresh_token));
      expect(claimsOf(again.access_token).scope).toBe('orders:read');
      // ... while roles follow the users file
      expect(claimsOf(again.access_token).roles).toEqual(['admin']);
    } finally {
      await env.setUsers(users);
    }
  });

  it('a user removed from the users file cannot refresh, and the session is ended', async () => {
    const s = await signIn(DAVE);
    await env.setUsers(users.filter((u) => u.username !== DAVE));
    try {
      await expectRefreshRejected(env.g.url, s.refresh_token);
    } finally {
      await env.setUsers(users);
    }
    // back in the file, the old session stays dead
    await expectRefreshRejected(env.g.url, s.refresh_token);
  });

  it('requesting a scope that was not granted at login does not widen it', async () => {
    const s = await signIn(ALICE, env, { scope: 'orders:read' });
    expect(s.scope).toBe('orders:read');
    expect(claimsOf(s.access_token).scope).toBe('orders:read');
    await expectApiRejected(env, s.access_token, 403, 'insufficient_scope', '/orders-write/1');

    // RFC 6749 §3.3: the server may issue less than asked for, and says so in "scope"
    const t = expectTokens(await refresh(env.g.url, s.refresh_token, { scope: 'orders:read orders:write admin:all' }));
    expect(t.scope).toBe('orders:read');
    expect(claimsOf(t.access_token).scope).toBe('orders:read');
    expect(claimsOf(t.refresh_token).scope).toBe('orders:read');
    await expectApiRejected(env, t.access_token, 403, 'insufficient_scope', '/orders-write/1');
    const t2 = expectTokens(await oauthRefresh(env.g.url, t.refresh_token, { scope: 'orders:write' }));
    expect(t2.scope ?? '').not.toContain('orders:write');
    expect(claimsOf(t2.access_token).scope).not.toContain('orders:write');
    await expectApiRejected(env, t2.access_token, 403, 'insufficient_scope', '/orders-write/1');
  });

  it('a narrowed refresh stays narrowed, and the scope never grows back on later refreshes', async () => {
    const s = await signIn(ALICE);
    expect(claimsOf(s.access_token).scope).toBe('orders:read orders:write');
    const narrowed = expectTokens(await oauthRefresh(env.g.url, s.refresh_token, { scope: 'orders:read' }));
    expect(narrowed.scope).toBe('orders:read');
    const later = expectTokens(await oauthRefresh(env.g.url, narrowed.refresh_token, { scope: 'orders:read orders:write' }));
    expect(claimsOf(later.access_token).scope).toBe('orders:read');
    const unasked = expectTokens(await oauthRefresh(env.g.url, later.refresh_token));
    expect(claimsOf(unasked.access_token).scope).toBe('orders:read');
    await expectApiRejected(env, unasked.access_token, 403, 'insufficient_scope', '/orders-write/1');
    await expectApiOk(env, unasked.access_token);
  });
});
