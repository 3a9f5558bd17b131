/**
 * Refresh rotation, reuse detection, logout and revocation (SPEC §3,
 * SECURITY.md O01-O10, J15), end to end: a real gateway issuing real tokens,
 * a real upstream behind it, real expiry with short TTLs (no fake timers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64u, makeKey, parts, type TestKey } from '../helpers/keys.js';
import {
  claimsOf,
  expectApiOk,
  expectApiRejected,
  expectError,
  expectRefreshRejected,
  expectTokens,
  forgeRefresh,
  hashed,
  headerNames,
  login,
  oauthRefresh,
  postForm,
  postJson,
  refresh,
  request,
  startIssuer,
  untilExpired,
  withoutRequestId,
  type IssuerEnv,
  type Reply,
  type TokenResponse,
  type UserEntry,
} from './support.js';

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

  it('O01: replaying RT1 after rotation is invalid_grant and kills RT2 and every access token of that login', async () => {
    const first = await signIn(ALICE);
    const other = await signIn(ALICE); // a second, unrelated login of the same user
    const second = expectTokens(await refresh(env.g.url, first.refresh_token));
    await expectApiOk(env, first.access_token);
    await expectApiOk(env, second.access_token);

    expectError(await refresh(env.g.url, first.refresh_token), 401, 'invalid_grant');

    await expectRefreshRejected(env.g.url, second.refresh_token);
    await expectApiRejected(env, first.access_token);
    await expectApiRejected(env, second.access_token);
    expectError(await request(env.g.url, '/auth/profile', { token: second.access_token }), 401, 'invalid_token');
    // only that login session died
    await expectApiOk(env, other.access_token);
    expectTokens(await refresh(env.g.url, other.refresh_token));
  });

  it('O01 via /oauth/token: replay answers 400 invalid_grant and kills the family', async () => {
    const first = await signIn(BOB);
    const second = expectTokens(await oauthRefresh(env.g.url, first.refresh_token));
    expectError(await oauthRefresh(env.g.url, first.refresh_token), 400, 'invalid_grant');
    await expectRefreshRejected(env.g.url, second.refresh_token);
    await expectApiRejected(env, second.access_token);
  });

  it('O02: attacker redeems first, victim replays: the whole family dies, the attacker included', async () => {
    const victim = await signIn(BOB);
    const attacker = expectTokens(await refresh(env.g.url, victim.refresh_token));
    await expectApiOk(env, attacker.access_token);

    expectError(await refresh(env.g.url, victim.refresh_token), 401, 'invalid_grant');

    await expectRefreshRejected(env.g.url, attacker.refresh_token);
    await expectApiRejected(env, attacker.access_token);
    await expectApiRejected(env, victim.access_token);
  });

  for (const n of [2, 10, 50]) {
    it(`O03: ${n} parallel refreshes of one token: exactly one succeeds`, async () => {
      const session = await signIn(CAROL);
      const replies = await Promise.all(Array.from({ length: n }, () => refresh(env.g.url, session.refresh_token)));
      const ok = replies.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      const losers = replies.filter((r) => r.status !== 200);
      expect(losers).toHaveLength(n - 1);
      const bodies = new Set(losers.map((r) => (expectError(r, 401, 'invalid_grant'), withoutRequestId(r))));
      expect(bodies.size).toBe(1);
      // every loser presented an already-used token: that is reuse, so the winner's pair dies too
      const winner = expectTokens(ok[0] as Reply);
      await expectRefreshRejected(env.g.url, winner.refresh_token);
      await expectApiRejected(env, winner.access_token);
      await expectApiRejected(env, session.access_token);
    });
  }
});

describe('logout (O04, O05)', () => {
  it('O04: after logout the refresh token and the access token are rejected', async () => {
    const s = await signIn(ALICE);
    await expectApiOk(env, s.access_token);
    const out = await request(env.g.url, '/auth/logout', { method: 'POST', token: s.access_token });
    expect(out.status, out.text).toBe(204);
    expect(out.text).toBe('');
    await expectRefreshRejected(env.g.url, s.refresh_token);
    await expectApiRejected(env, s.access_token);
    expectError(await request(env.g.url, '/auth/profile', { token: s.access_token }), 401, 'invalid_token');
    // logging out twice with the same token: the token is already dead
    expectError(await request(env.g.url, '/auth/logout', { method: 'POST', token: s.access_token }), 401, 'invalid_token');
  });

  it('O04: logout with the refresh token in the body also revokes that family, and access tokens of an earlier rotation', async () => {
    const s = await signIn(ALICE);
    const rotated = expectTokens(await refresh(env.g.url, s.refresh_token));
    const out = await postJson(env.g.url, '/auth/logout', { refresh_token: rotated.refresh_token }, { authorization: `Bearer ${rotated.access_token}` });
    expect(out.status, out.text).toBe(204);
    await expectRefreshRejected(env.g.url, rotated.refresh_token);
    await expectApiRejected(env, rotated.access_token);
    await expectApiRejected(env, s.access_token);
  });

  it('logout without a bearer token is 401 unauthorized and changes nothing', async () => {
    const s = await signIn(BOB);
    const out = await postJson(env.g.url, '/auth/logout', { refresh_token: s.refresh_token });
    expectError(out, 401, 'unauthorized');
    expect(out.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    await expectApiOk(env, s.access_token);
    expectTokens(await refresh(env.g.url, s.refresh_token));
  });

  it('O05: logout with a junk or someone else’s refresh token is 204 and the other session keeps working', async () => {
    const bob = await signIn(BOB);
    const alice1 = await signIn(ALICE);
    const withForeign = await postJson(env.g.url, '/auth/logout', { refresh_token: bob.refresh_token }, { authorization: `Bearer ${alice1.access_token}` });
    expect(withForeign.status, withForeign.text).toBe(204);
    const alice2 = await signIn(ALICE);
    for (const junk of ['junk', 'a.b.c', bob.access_token, await forgeRefresh(otherDeployment, { sub: BOB, sid: claimsOf(bob.refresh_token).sid as string })]) {
      const a = await signIn(ALICE);
      const out = await postJson(env.g.url, '/auth/logout', { refresh_token: junk }, { authorization: `Bearer ${a.access_token}` });
      expect(out.status, out.text).toBe(204);
      await expectApiRejected(env, a.access_token); // the caller's own session did end
    }
    // Bob's session is untouched
    await expectApiOk(env, bob.access_token);
    const bob2 = expectTokens(await refresh(env.g.url, bob.refresh_token));
    await expectApiOk(env, bob2.access_token);
    // and so is Alice's other login: logout ends one session, not all of them
    await expectApiOk(env, alice2.access_token);
    await expectApiRejected(env, alice1.access_token);
  });
});

describe('RFC 7009 revocation (/oauth/revoke)', () => {
  const revoke = (token: string, extra: Record<string, string> = {}) => postForm(env.g.url, '/oauth/revoke', { token, client_id: 'cli', ...extra });

  it('O05: junk, unknown and foreign tokens are 200 and change nothing', async () => {
    const s = await signIn(BOB);
    const sid = claimsOf(s.refresh_token).sid as string;
    const jti = claimsOf(s.access_token).jti as string;
    const [h, p] = parts(s.access_token);
    const candidates = [
      'junk',
      'a.b.c',
      `${h}.${p}.${b64u('not a signature')}`,
      // another deployment's tokens naming this session and this access token
      await forgeRefresh(otherDeployment, { sub: BOB, sid }),
      await forgeRefresh(otherDeployment, { sub: BOB, sid, iss: 'https://other-deployment.test' }),
      // a validly signed refresh token of a family this gateway never created
      await forgeRefresh(env.key, { sub: BOB }),
      `${b64u({ alg: 'ES256', kid: otherDeployment.kid, typ: 'at+jwt' })}.${b64u({ iss: 'https://gatehouse.test', sub: BOB, jti, sid, aud: 'api', exp: 9999999999 })}.${parts(s.access_token)[2]}`,
    ];
    for (const token of candidates) {
      for (const hint of [{}, { token_type_hint: 'refresh_token' }, { token_type_hint: 'access_token' }] as Array<Record<string, string>>) {
        const r = await revoke(token, hint);
        expect(r.status, `${token}: ${r.text}`).toBe(200);
        expect(r.text).toBe('');
        expect(r.headers.get('cache-control')).toBe('no-store');
      }
    }
    await expectApiOk(env, s.access_token);
    const next = expectTokens(await refresh(env.g.url, s.refresh_token));
    await expectApiOk(env, next.access_token);
  });

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

describe('refresh tokens that must never work (O07, J15)', () => {
  it('O07: tampered, random and other-deployment refresh tokens are invalid_grant and do not harm the real session', async () => {
    const s = await signIn(BOB);
    const rt = s.refresh_token;
    const [h, p, sig] = parts(rt);
    const claims = claimsOf(rt);
    const flip = (x: string) => x.slice(0, -2) + (x.at(-2) === 'A' ? 'B' : 'A') + x.slice(-1);
    const sameKidOtherKey = await makeKey('ES256', env.key.kid);
    const tampered = [
      `${h}.${p}.${flip(sig)}`,
      `${h}.${b64u({ ...claims, sub: ALICE })}.${sig}`,
      `${h}.${b64u({ ...claims, exp: (claims.exp as number) + 3600 })}.${sig}`,
      `${b64u({ alg: 'none', typ: 'refresh+jwt' })}.${p}.`,
      `${h}.${p}`,
      rt.slice(0, -10),
      'random',
      crypto.randomUUID(),
      `${b64u({ alg: 'ES256', typ: 'refresh+jwt' })}.${b64u({ sub: BOB })}.${b64u('x')}`,
      await forgeRefresh(otherDeployment, { sub: BOB, sid: claims.sid as string, jti: claims.jti as string }),
      await forgeRefresh(sameKidOtherKey, { sub: BOB, sid: claims.sid as string, jti: claims.jti as string }),
      // our own key, but minted for another deployment's issuer
      await forgeRefresh(env.key, { iss: 'https://other.test', sub: BOB, sid: claims.sid as string, jti: claims.jti as string }),
    ];
    const bodies = new Set<string>();
    for (const t of tampered) {
      const { auth, oauth } = await expectRefreshRejected(env.g.url, t);
      bodies.add(withoutRequestId(auth));
      expect(withoutRequestId(oauth)).toBe(withoutRequestId(auth));
    }
    expect(bodies.size).toBe(1);
    // none of that counted as a reuse of the real token
    await expectApiOk(env, s.access_token);
    expectTokens(await refresh(env.g.url, rt));
  });

  it('J15: an access token presented as a refresh token is invalid_grant', async () => {
    const s = await signIn(BOB);
    await expectRefreshRejected(env.g.url, s.access_token);
    expectError(await postJson(env.g.url, '/auth/refresh', { refreshToken: s.access_token }), 401, 'invalid_grant');
    // and it did not end the session
    await expectApiOk(env, s.access_token);
    expectTokens(await refresh(env.g.url, s.refresh_token));
  });

  it('J15: a refresh token presented as an access token is rejected by the proxy and the bearer endpoints', async () => {
    const s = await signIn(ALICE);
    for (const path of ['/api/orders', '/admin-area/x', '/orders-write/1']) await expectApiRejected(env, s.refresh_token, 401, 'invalid_token', path);
    expectError(await request(env.g.url, '/auth/profile', { token: s.refresh_token }), 401, 'invalid_token');
    expectError(await request(env.g.url, '/auth/logout', { method: 'POST', token: s.refresh_token }), 401, 'invalid_token');
    // the refused logout ended nothing
    expectTokens(await refresh(env.g.url, s.refresh_token));
  });

  it('the `refreshToken` spelling is accepted on /auth/refresh; a missing token is 400 invalid_request', async () => {
    const s = await signIn(BOB);
    expectTokens(await postJson(env.g.url, '/auth/refresh', { refreshToken: s.refresh_token }));
    expectError(await postJson(env.g.url, '/auth/refresh', {}), 400, 'invalid_request');
    expectError(await postJson(env.g.url, '/auth/refresh', { refresh_token: 42 }), 400, 'invalid_request');
    expectError(await postForm(env.g.url, '/oauth/token', { grant_type: 'refresh_token' }), 400, 'invalid_request');
  });
});

describe('real expiry (accessTokenTtl 2s, refreshTokenTtl 3s)', () => {
  let aging: TokenResponse;
  beforeAll(async () => {
    aging = await signIn(ALICE, short);
  });

  it('O10: reused, unknown, expired, revoked and wrong-type refresh tokens get one body (401 on /auth/refresh, 400 on /oauth/token)', async () => {
    const url = short.g.url;
    const cases: Array<[string, string]> = [];
    // reused
    const r1 = await signIn(BOB, short);
    expectTokens(await refresh(url, r1.refresh_token));
    cases.push(['reused', r1.refresh_token]);
    // unknown: validly signed by this issuer, but no such login session
    cases.push(['unknown', await forgeRefresh(short.key, { sub: BOB })]);
    // revoked (logout)
    const r2 = await signIn(BOB, short);
    expect((await request(url, '/auth/logout', { method: 'POST', token: r2.access_token })).status).toBe(204);
    cases.push(['revoked', r2.refresh_token]);
    // revoked (RFC 7009)
    const r3 = await signIn(CAROL, short);
    expect((await postForm(url, '/oauth/revoke', { token: r3.refresh_token })).status).toBe(200);
    cases.push(['revoked via /oauth/revoke', r3.refresh_token]);
    // not a refresh token
    cases.push(['access token', r3.access_token]);
    cases.push(['random', 'not-a-token']);
    // expired
    await untilExpired(aging.refresh_token);
    cases.push(['expired', aging.refresh_token]);

    const authBodies = new Map<string, string>();
    const oauthBodies = new Map<string, string>();
    const authHeaders = new Set<string>();
    for (const [name, token] of cases) {
      const { auth, oauth } = await expectRefreshRejected(url, token);
      authBodies.set(name, withoutRequestId(auth));
      oauthBodies.set(name, withoutRequestId(oauth));
      authHeaders.add(headerNames(auth).filter((n) => n !== 'date').join(','));
      expect(auth.headers.get('cache-control')).toBe('no-store');
    }
    const distinct = new Set(authBodies.values());
    expect(distinct.size, JSON.stringify(Object.fromEntries(authBodies))).toBe(1);
    expect(new Set(oauthBodies.values())).toEqual(distinct);
    expect(authHeaders.size).toBe(1);
  });

  it('O06: an expired refresh token is invalid_grant, an expired access token is 401 at the proxy', async () => {
    await untilExpired(aging.refresh_token);
    await expectRefreshRejected(short.g.url, aging.refresh_token);
    const body = await expectApiRejected(short, aging.access_token);
    expect(body.error_description).toMatch(/expired/i);
  });

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

describe('O08: token responses are never cached', () => {
  it('login, refresh and both grants of /oauth/token carry Cache-Control: no-store and Pragma: no-cache', async () => {
    const viaLogin = await postJson(env.g.url, '/auth/login', { username: BOB, password: PW[BOB] });
    const t = expectTokens(viaLogin);
    const viaRefresh = await refresh(env.g.url, t.refresh_token);
    const t2 = expectTokens(viaRefresh);
    expectTokens(await oauthRefresh(env.g.url, t2.refresh_token));
    expectTokens(await postForm(env.g.url, '/oauth/token', { grant_type: 'password', username: BOB, password: PW[BOB], client_id: 'cli' }));
  });
});

describe('admin "log out everywhere"', () => {
  it('POST /admin/revoke {"sub"} kills existing access AND refresh tokens of that user only', async () => {
    const s1 = await signIn(CAROL);
    const s2 = await signIn(CAROL);
    const s2b = expectTokens(await refresh(env.g.url, s2.refresh_token));
    const bob = await signIn(BOB);
    const r = await fetch(`${env.g.adminUrl}/admin/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: CAROL }) });
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
  const adminRevoke = (body: unknown) => fetch(`${env.g.adminUrl}/admin/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

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

describe('O09: refresh never widens what a login was granted', () => {
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
