/**
 * Gatehouse as an OAuth 2.1 / OpenID provider (SPEC §8), over real HTTP
 * with a real gateway, users file, signing key and upstream: the code flow
 * with PKCE through the sign-in and consent forms, client credentials,
 * refresh, userinfo, end-session, and every refusal the issue lists. Each
 * refusal asserts what must not happen too: no redirect to an unregistered
 * URI, no code, no token, no upstream call.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeQuery,
  basic,
  codeFor,
  formFields,
  navigate,
  pkce,
  postForm,
  SECRET,
  signIn,
  startProvider,
  tokenRequest,
  type Provider,
} from '../helpers/oauth.js';
import * as oidc from 'openid-client';
import { sleep } from '../helpers/http.js';
import { hashed } from '../helpers/issuer.js';
import { freePort } from '../helpers/redis.js';

const SPA_CB = 'https://app.example/callback';
const REPORTS_CB = 'https://reports.example/cb';
let p: Provider;
let cookie: string;

beforeAll(async () => {
  p = await startProvider();
  cookie = (await signIn(p)).cookie;
});
afterAll(() => p?.stop());

const redeem = (code: string, verifier: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
  tokenRequest(p, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: SPA_CB, client_id: 'spa', ...extra }, headers);

/** The error answer sent back to the client: a 302 to the registered redirect URI with error, state and iss. */
async function expectClientError(r: Response, redirectUri: string, error: string): Promise<URL> {
  expect(r.status).toBe(302);
  const loc = new URL(r.headers.get('location') ?? '');
  expect(loc.href.startsWith(redirectUri)).toBe(true);
  expect(loc.searchParams.get('error')).toBe(error);
  expect(loc.searchParams.get('iss')).toBe(p.origin);
  expect(loc.searchParams.get('state')).toBe('st-123');
  expect(loc.searchParams.get('code')).toBeNull();
  return loc;
}

/** Shown as a page, never redirected (SPEC §8: until client and redirect URI are known to match). */
async function expectErrorPage(r: Response, status = 400): Promise<string> {
  expect(r.status).toBe(status);
  expect(r.headers.get('location')).toBeNull();
  expect(r.headers.get('content-type')).toMatch(/^text\/html/);
  return r.text();
}

async function upstreamCalls<T>(fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const before = p.up.seen.length;
  const result = await fn();
  return { result, calls: p.up.seen.length - before };
}

const api = (token: string) => fetch(`${p.g.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });

describe('authorization code flow with PKCE', () => {
  it('first-party client: no consent page; tokens, an ID token the JWKS verifies, the access token works at the API', async () => {
    const { code, verifier, location } = await codeFor(p, cookie, 'spa', SPA_CB, { nonce: 'n-1' });
    expect(location.origin + location.pathname).toBe(SPA_CB);
    expect(location.searchParams.get('state')).toBe('st-123');
    expect(location.searchParams.get('iss')).toBe(p.origin);
    const r = await redeem(code, verifier);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const t = (await r.json()) as Record<string, string>;
    expect(t).toMatchObject({ token_type: 'Bearer', scope: 'openid profile email orders:read' });
    const jwks = createLocalJWKSet((await (await fetch(`${p.g.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    const { payload: id, protectedHeader } = await jwtVerify(t.id_token as string, jwks, { issuer: p.origin, audience: 'spa' });
    expect(protectedHeader.typ).toBe('JWT');
    expect(id).toMatchObject({ sub: 'alice', nonce: 'n-1', email: 'alice@example.com', name: 'Alice Liddell', preferred_username: 'alice' });
    expect(typeof id.auth_time).toBe('number');
    expect(typeof id.at_hash).toBe('string');
    const access = decodeJwt(t.access_token as string);
    expect(access).toMatchObject({ sub: 'alice', aud: 'api', client_id: 'spa', scope: 'openid profile email orders:read' });
    const { result, calls } = await upstreamCalls(() => api(t.access_token as string));
    expect(result.status).toBe(200);
    expect(calls).toBe(1);
    // an ID token is not an access token (typ JWT, aud the client): the proxy refuses it
    const refused = await upstreamCalls(() => api(t.id_token as string));
    expect(refused.result.status).toBe(401);
    expect(refused.calls).toBe(0);
  });

  it('without a session: sign-in page naming the client, then back to the client with a code', async () => {
    const { challenge } = pkce();
    const r = await navigate(p, authorizeQuery('spa', SPA_CB, challenge, { scope: 'openid' }));
    expect(r.status).toBe(302);
    const signInAt = r.headers.get('location') ?? '';
    expect(signInAt).toMatch(/^\/auth\/sign-in\?flow=[A-Za-z0-9_-]{22}$/);
    expect(await (await navigate(p, signInAt)).text()).toContain('Orders SPA');
    const done = await signIn(p, signInAt);
    expect(done.location).toMatch(/^\/oauth\/authorize\/continue\?request=/);
    const back = await navigate(p, done.location, done.cookie);
    expect(back.status).toBe(302);
    const loc = new URL(back.headers.get('location') ?? '');
    expect(loc.origin + loc.pathname).toBe(SPA_CB);
    expect(loc.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('consent: a page naming the client and scopes; allow gives a code and is remembered; more scopes or prompt=consent ask again', async () => {
    const first = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid orders:read' }), cookie);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(first.headers.get('content-security-policy')).toContain('form-action');
    expect(first.headers.get('content-security-policy')).toContain('https://reports.example');
    expect(first.headers.get('x-frame-options')).toBe('DENY');
    const html = await first.text();
    expect(html).toContain('Report Builder');
    expect(html).toContain('orders:read');
    const allow = await postForm(p, '/oauth/authorize/consent', { ...formFields(html), decision: 'allow' }, cookie);
    expect(allow.status).toBe(303);
    const loc = new URL(allow.headers.get('location') ?? '');
    expect(loc.origin + loc.pathname).toBe(REPORTS_CB);
    expect(loc.searchParams.get('code')).toBeTruthy();
    // remembered: the same scopes go straight back
    const again = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid orders:read' }), cookie);
    expect(again.status).toBe(302);
    // the user lacks orders:write (not in their scope), so asking for it grants nothing new: still no page
    // prompt=consent asks again
    const forced = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid', prompt: 'consent' }), cookie);
    expect(forced.status).toBe(200);
    // a wider request (profile was not agreed to) asks again
    const wider = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid profile' }), cookie);
    expect(wider.status).toBe(200);
    expect(await wider.text()).toContain('profile');
  });

  it('deny: back to the client with access_denied and no code; the refusal is not remembered as consent', async () => {
    const page = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid', prompt: 'consent' }), cookie);
    const deny = await postForm(p, '/oauth/authorize/consent', { ...formFields(await page.text()), decision: 'deny' }, cookie);
    expect(deny.status).toBe(303);
    const loc = new URL(deny.headers.get('location') ?? '');
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('code')).toBeNull();
  });

  it('prompt=none: login_required without a session, consent_required when consent is missing', async () => {
    await expectClientError(await navigate(p, authorizeQuery('spa', SPA_CB, pkce().challenge, { prompt: 'none' })), SPA_CB, 'login_required');
    await expectClientError(
      await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { prompt: 'none', scope: 'openid profile orders:read' }), cookie),
      REPORTS_CB,
      'consent_required',
    );
  });

  it('prompt=login: a signed-in browser is asked to sign in again', async () => {
    const r = await navigate(p, authorizeQuery('spa', SPA_CB, pkce().challenge, { prompt: 'login' }), cookie);
    expect(r.status).toBe(302);
    const page = await navigate(p, r.headers.get('location') ?? '', cookie);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('name="password"');
  });

  it('a loopback redirect URI matches on any port (RFC 8252 §7.3)', async () => {
    const { code, location } = await codeFor(p, cookie, 'native', 'http://127.0.0.1:61234/cb', { scope: 'openid' });
    expect(location.origin).toBe('http://127.0.0.1:61234');
    expect(code).toBeTruthy();
  });
});

describe('refusals at the authorization endpoint', () => {
  it('an unknown or missing client: an error page, no redirect', async () => {
    await expectErrorPage(await navigate(p, authorizeQuery('nobody', SPA_CB, pkce().challenge), cookie));
    await expectErrorPage(await navigate(p, `/oauth/authorize?response_type=code&redirect_uri=${encodeURIComponent(SPA_CB)}`, cookie));
  });

  it.each([
    ['a trailing slash', 'https://app.example/callback/'],
    ['letter case', 'https://APP.example/callback'],
    ['path case', 'https://app.example/Callback'],
    ['an extra query', 'https://app.example/callback?next=1'],
    ['a dot segment', 'https://app.example/callback/../callback'],
    ['an encoded slash', 'https://app.example/callback%2F..%2Fevil'],
    ['userinfo', 'https://app.example@evil.example/callback'],
    ['userinfo on the registered host', 'https://evil@app.example/callback'],
    ['another port', 'https://app.example:8443/callback'],
    ['http instead of https', 'http://app.example/callback'],
    ['a fragment', 'https://app.example/callback#x'],
    ['a prefix', 'https://app.example/callbackx'],
    ['localhost for a 127.0.0.1 registration', 'http://localhost:61234/cb'],
    ['missing', ''],
  ])('a redirect URI differing by %s: an error page, never redirected', async (_what, uri) => {
    const q = authorizeQuery(uri.includes('/cb') ? 'native' : 'spa', uri, pkce().challenge);
    const r = await navigate(p, uri === '' ? q.replace(/&redirect_uri=[^&]*/, '') : q, cookie);
    const html = await expectErrorPage(r);
    expect(html).not.toContain('code=');
  });

  it.each([
    ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['no code_challenge', { code_challenge: '' }, 'invalid_request'],
    ['no code_challenge_method', { code_challenge_method: '' }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['response_type id_token', { response_type: 'id_token' }, 'unsupported_response_type'],
    ['an unknown scope', { scope: 'openid admin:all' }, 'invalid_scope'],
    ['a scope the client may not have', { scope: 'orders:write' }, 'invalid_scope'],
    ['a request object', { request: 'eyJ.x.y' }, 'request_not_supported'],
    ['response_mode fragment', { response_mode: 'fragment' }, 'invalid_request'],
    ['an unknown prompt', { prompt: 'sometimes' }, 'invalid_request'],
  ])('%s: back to the client with an error, no code', async (_what, extra, error) => {
    const q = new URLSearchParams(authorizeQuery('spa', SPA_CB, pkce().challenge).split('?')[1]);
    for (const [k, v] of Object.entries(extra)) {
      if (v === '') q.delete(k);
      else q.set(k, v);
    }
    await expectClientError(await navigate(p, `/oauth/authorize?${q.toString()}`, cookie), SPA_CB, error);
  });

  it('a repeated parameter is refused (RFC 6749 §3.1)', async () => {
    const r = await navigate(p, `${authorizeQuery('spa', SPA_CB, pkce().challenge)}&scope=openid&scope=profile`, cookie);
    await expectClientError(r, SPA_CB, 'invalid_request');
  });

  it('a client without the authorization_code grant: unauthorized_client', async () => {
    const other = await startProvider({
      clients: [{ id: 'cc-only', secret: SECRET, redirectUris: ['https://x.example/cb'], grants: ['client_credentials'], scopes: ['a'] }],
    });
    try {
      const c = (await signIn(other)).cookie;
      const r = await navigate(other, authorizeQuery('cc-only', 'https://x.example/cb', pkce().challenge, { scope: 'a' }), c);
      expect(r.status).toBe(302);
      expect(new URL(r.headers.get('location') ?? '').searchParams.get('error')).toBe('unauthorized_client');
    } finally {
      await other.stop();
    }
  });

  it('a cross-site or forged consent form grants nothing and redirects nowhere', async () => {
    const page = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid', prompt: 'consent' }), cookie);
    const fields = formFields(await page.text());
    const cross = await postForm(p, '/oauth/authorize/consent', { ...fields, decision: 'allow' }, cookie, {
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
    });
    await expectErrorPage(cross, 403);
    const forged = await postForm(p, '/oauth/authorize/consent', { ...fields, csrf: 'x'.repeat(36), decision: 'allow' }, cookie);
    await expectErrorPage(forged, 403);
    const noCookie = await postForm(p, '/oauth/authorize/consent', { ...fields, decision: 'allow' }, '');
    await expectErrorPage(noCookie, 403);
    // the genuine form still works afterwards: nothing above consumed or changed the request
    const ok = await postForm(p, '/oauth/authorize/consent', { ...fields, decision: 'allow' }, cookie);
    expect(ok.status).toBe(303);
  });

  it('the sign-in page an authorization request leads to cannot be framed either', async () => {
    const r = await navigate(p, authorizeQuery('spa', SPA_CB, pkce().challenge));
    const page = await navigate(p, r.headers.get('location') ?? '');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('code exchange refusals', () => {
  it('a wrong or missing code_verifier: invalid_grant, no tokens', async () => {
    const a = await codeFor(p, cookie);
    const wrong = await redeem(a.code, pkce().verifier);
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
    const b = await codeFor(p, cookie);
    const missing = await tokenRequest(p, { grant_type: 'authorization_code', code: b.code, redirect_uri: SPA_CB, client_id: 'spa' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a verifier sent without a challenge: the authorization request without one gets no code, so no verifier can ever redeem one', async () => {
    const q = new URLSearchParams(authorizeQuery('spa', SPA_CB, 'x').split('?')[1]);
    q.delete('code_challenge');
    q.delete('code_challenge_method');
    const refused = await expectClientError(await navigate(p, `/oauth/authorize?${q.toString()}`, cookie), SPA_CB, 'invalid_request');
    expect(refused.searchParams.get('error_description')).toMatch(/code_challenge is required/);
    const { result, calls } = await upstreamCalls(() => redeem('made-up-code', pkce().verifier));
    expect(result.status).toBe(400);
    expect(await result.json()).toMatchObject({ error: 'invalid_grant' });
    expect(calls).toBe(0);
  });

  it('a code used twice: the second use fails and the tokens of the first are revoked', async () => {
    const { code, verifier } = await codeFor(p, cookie);
    const first = (await (await redeem(code, verifier)).json()) as Record<string, string>;
    expect((await api(first.access_token as string)).status).toBe(200);
    const second = await redeem(code, verifier);
    expect(second.status).toBe(400);
    expect(await second.json()).toMatchObject({ error: 'invalid_grant' });
    const { result, calls } = await upstreamCalls(() => api(first.access_token as string));
    expect(result.status).toBe(401);
    expect(calls).toBe(0);
    const refreshed = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: first.refresh_token as string, client_id: 'spa' });
    expect(refreshed.status).toBe(400);
    expect(await refreshed.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a code for another client or another redirect URI: invalid_grant', async () => {
    const a = await codeFor(p, cookie);
    const asNative = await redeem(a.code, a.verifier, { client_id: 'native', redirect_uri: SPA_CB });
    expect(asNative.status).toBe(400);
    expect(await asNative.json()).toMatchObject({ error: 'invalid_grant' });
    const b = await codeFor(p, cookie);
    const otherUri = await redeem(b.code, b.verifier, { redirect_uri: 'https://app.example/other' });
    expect(otherUri.status).toBe(400);
    expect(await otherUri.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('an expired code: invalid_grant', async () => {
    const short = await startProvider({ issuer: { authorizationCodeTtl: '1s' } });
    try {
      const c = (await signIn(short)).cookie;
      const { code, verifier } = await codeFor(short, c);
      await sleep(2100);
      const r = await tokenRequest(short, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: SPA_CB, client_id: 'spa' });
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'invalid_grant' });
    } finally {
      await short.stop();
    }
  });

  it('a confidential client without its secret, or with a wrong one: 401 invalid_client (Basic gets a challenge)', async () => {
    const page = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, pkce().challenge, { scope: 'openid', prompt: 'consent' }), cookie);
    expect(page.status).toBe(200);
    const params = { grant_type: 'authorization_code', code: 'x', code_verifier: pkce().verifier, redirect_uri: REPORTS_CB };
    const none = await tokenRequest(p, { ...params, client_id: 'thirdparty' });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'invalid_client' });
    const wrongPost = await tokenRequest(p, { ...params, client_id: 'thirdparty', client_secret: `${SECRET}x` });
    expect(wrongPost.status).toBe(401);
    const wrongBasic = await tokenRequest(p, params, { authorization: basic('thirdparty', 'nope') });
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
    const unknown = await tokenRequest(p, params, { authorization: basic('nobody', SECRET) });
    expect(unknown.status).toBe(401);
    // a public client presenting a secret is not taken for a confidential one
    const publicWithSecret = await tokenRequest(p, { ...params, client_id: 'spa', client_secret: SECRET });
    expect(publicWithSecret.status).toBe(401);
  });

  it('the consent flow end to end for a confidential client (secret by Basic), then refresh with rotation', async () => {
    const { verifier, challenge } = pkce();
    const page = await navigate(p, authorizeQuery('thirdparty', REPORTS_CB, challenge, { scope: 'openid orders:read', prompt: 'consent' }), cookie);
    const allow = await postForm(p, '/oauth/authorize/consent', { ...formFields(await page.text()), decision: 'allow' }, cookie);
    const code = new URL(allow.headers.get('location') ?? '').searchParams.get('code') as string;
    const r = await tokenRequest(
      p,
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REPORTS_CB },
      { authorization: basic('thirdparty', SECRET) },
    );
    expect(r.status).toBe(200);
    const t = (await r.json()) as Record<string, string>;
    expect(t.scope).toBe('openid orders:read');
    // refresh: only by this client, with its secret; the old refresh token is then refused
    const byOther = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: t.refresh_token as string, client_id: 'spa' });
    expect(byOther.status).toBe(400);
    const noSecret = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: t.refresh_token as string, client_id: 'thirdparty' });
    expect(noSecret.status).toBe(401);
    const rotated = await tokenRequest(
      p,
      { grant_type: 'refresh_token', refresh_token: t.refresh_token as string },
      { authorization: basic('thirdparty', SECRET) },
    );
    expect(rotated.status).toBe(200);
    const next = (await rotated.json()) as Record<string, string>;
    expect(next.refresh_token).not.toBe(t.refresh_token);
    expect(decodeJwt(next.access_token as string)).toMatchObject({ client_id: 'thirdparty', scope: 'openid orders:read' });
    const reused = await tokenRequest(
      p,
      { grant_type: 'refresh_token', refresh_token: t.refresh_token as string },
      { authorization: basic('thirdparty', SECRET) },
    );
    expect(reused.status).toBe(400);
    // the JSON API does not take a client's refresh token
    const viaJsonApi = await fetch(`${p.g.url}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: next.refresh_token }),
    });
    expect(viaJsonApi.status).toBe(401);
  });
});

describe('revocation (RFC 7009)', () => {
  const revoke = (params: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${p.g.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(params).toString(),
    });

  it("another client cannot revoke a client's tokens (the same 200, nothing revoked); the client itself can", async () => {
    const { code, verifier } = await codeFor(p, cookie);
    const t = (await (await redeem(code, verifier)).json()) as Record<string, string>;
    for (const token of [t.refresh_token as string, t.access_token as string]) {
      const byOther = await revoke({ token }, { authorization: basic('thirdparty', SECRET) });
      expect(byOther.status).toBe(200);
    }
    expect((await api(t.access_token as string)).status).toBe(200);
    const stillValid = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: t.refresh_token as string, client_id: 'spa' });
    expect(stillValid.status).toBe(200);
    const next = (await stillValid.json()) as Record<string, string>;
    expect((await revoke({ token: next.refresh_token as string, client_id: 'spa' })).status).toBe(200);
    const revoked = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: next.refresh_token as string, client_id: 'spa' });
    expect(revoked.status).toBe(400);
    expect((await api(next.access_token as string)).status).toBe(401);
  });

  it('with a client registry the caller must authenticate as a client', async () => {
    const r = await revoke({ token: 'whatever' });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: 'invalid_client' });
  });
});

describe('client credentials', () => {
  it('Basic or post: an access token for the client itself, no refresh token; it works at the API', async () => {
    for (const [params, headers] of [
      [{ grant_type: 'client_credentials' }, { authorization: basic('nightly', SECRET) }],
      [{ grant_type: 'client_credentials', client_id: 'nightly', client_secret: SECRET, scope: 'reports:read' }, {}],
    ] as const) {
      const r = await tokenRequest(p, params, headers);
      expect(r.status).toBe(200);
      const t = (await r.json()) as Record<string, unknown>;
      expect(t).not.toHaveProperty('refresh_token');
      expect(t).not.toHaveProperty('id_token');
      expect(t.scope).toBe('reports:read');
      expect(decodeJwt(t.access_token as string)).toMatchObject({ sub: 'nightly', client_id: 'nightly', aud: 'api' });
      expect((await api(t.access_token as string)).status).toBe(200);
    }
  });

  it('a client registered with secretHash (argon2) authenticates with the secret, not with the hash', async () => {
    const hash = await hashed(SECRET);
    const other = await startProvider({ clients: [{ id: 'hashed', secretHash: hash, grants: ['client_credentials'], scopes: ['reports:read'] }] });
    try {
      const ok = await tokenRequest(other, { grant_type: 'client_credentials' }, { authorization: basic('hashed', SECRET) });
      expect(ok.status).toBe(200);
      expect(decodeJwt(((await ok.json()) as Record<string, string>).access_token as string)).toMatchObject({ sub: 'hashed' });
      for (const secret of [hash, `${SECRET}x`]) {
        const refused = await tokenRequest(other, { grant_type: 'client_credentials', client_id: 'hashed', client_secret: secret });
        expect(refused.status).toBe(401);
        expect(await refused.json()).toMatchObject({ error: 'invalid_client' });
      }
    } finally {
      await other.stop();
    }
  });

  it('refused: a wrong secret, an unknown scope, a client without the grant, a public client', async () => {
    const wrong = await tokenRequest(p, { grant_type: 'client_credentials' }, { authorization: basic('nightly', 'x'.repeat(32)) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
    const scope = await tokenRequest(p, { grant_type: 'client_credentials', scope: 'admin' }, { authorization: basic('nightly', SECRET) });
    expect(scope.status).toBe(400);
    expect(await scope.json()).toMatchObject({ error: 'invalid_scope' });
    const noGrant = await tokenRequest(p, { grant_type: 'client_credentials' }, { authorization: basic('thirdparty', SECRET) });
    expect(noGrant.status).toBe(400);
    expect(await noGrant.json()).toMatchObject({ error: 'unauthorized_client' });
    const publicClient = await tokenRequest(p, { grant_type: 'client_credentials', client_id: 'spa' });
    expect(publicClient.status).toBe(400);
    expect(await publicClient.json()).toMatchObject({ error: 'unauthorized_client' });
    // password grant is off unless listed
    const password = await tokenRequest(p, { grant_type: 'password', username: 'alice', password: 'alice-password-1', client_id: 'spa' });
    expect(password.status).toBe(400);
    const body = (await password.json()) as Record<string, string>;
    expect(body).toMatchObject({ error: 'unsupported_grant_type' });
    expect(body.error_description).toBe(
      'Supported grant types: authorization_code, refresh_token, client_credentials (the password grant is off unless issuer.grants lists it; RFC 9700 §2.4)',
    );
  });
});

describe('userinfo and end-session', () => {
  it('userinfo: the claims of the granted scopes; a token without openid gets 403 insufficient_scope', async () => {
    const { code, verifier } = await codeFor(p, cookie, 'spa', SPA_CB, { scope: 'openid email' });
    const t = (await (await redeem(code, verifier)).json()) as Record<string, string>;
    const ui = await fetch(`${p.g.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${t.access_token}` } });
    expect(ui.status).toBe(200);
    expect(await ui.json()).toEqual({ sub: 'alice', email: 'alice@example.com', email_verified: true });
    const cc = (await (await tokenRequest(p, { grant_type: 'client_credentials' }, { authorization: basic('nightly', SECRET) })).json()) as Record<
      string,
      string
    >;
    const refused = await fetch(`${p.g.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${cc.access_token}` } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect((await fetch(`${p.g.url}/oauth/userinfo`)).status).toBe(401);
  });

  it('with id_token_hint: the session ends and the browser goes to the registered post-logout URI with state', async () => {
    const session = (await signIn(p)).cookie;
    const { code, verifier } = await codeFor(p, session);
    const t = (await (await redeem(code, verifier)).json()) as Record<string, string>;
    const q = new URLSearchParams({ id_token_hint: t.id_token as string, post_logout_redirect_uri: 'https://app.example/', state: 'bye' });
    const r = await navigate(p, `/oauth/logout?${q.toString()}`, session);
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('https://app.example/?state=bye');
    expect(r.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    // the session is over: the authorization endpoint sends the same cookie to sign in again
    const after = await navigate(p, authorizeQuery('spa', SPA_CB, pkce().challenge), session);
    expect(after.headers.get('location')).toMatch(/^\/auth\/sign-in\?flow=/);
    // and the tokens the client got from this session are revoked with it
    const { result, calls } = await upstreamCalls(() => api(t.access_token as string));
    expect(result.status).toBe(401);
    expect(calls).toBe(0);
    const refreshed = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: t.refresh_token as string, client_id: 'spa' });
    expect(refreshed.status).toBe(400);
  });

  it('signing out on the sign-out page ends the tokens clients got from that session, and only those', async () => {
    const session = (await signIn(p)).cookie;
    const other = (await signIn(p)).cookie;
    const a = await codeFor(p, session);
    const b = await codeFor(p, other);
    const mine = (await (await redeem(a.code, a.verifier)).json()) as Record<string, string>;
    const theirs = (await (await redeem(b.code, b.verifier)).json()) as Record<string, string>;
    const page = await navigate(p, '/auth/sign-out', session);
    const out = await postForm(p, '/auth/sign-out', { csrf: formFields(await page.text()).csrf }, session);
    expect(out.status).toBe(303);
    expect((await api(mine.access_token as string)).status).toBe(401);
    expect((await api(theirs.access_token as string)).status).toBe(200);
  });

  it('an unregistered post-logout URI is an error page, never followed, and signs no one out', async () => {
    const session = (await signIn(p)).cookie;
    const { code, verifier } = await codeFor(p, session);
    const t = (await (await redeem(code, verifier)).json()) as Record<string, string>;
    for (const uri of ['https://evil.example/', 'https://app.example', 'https://app.example/?x=1']) {
      const q = new URLSearchParams({ id_token_hint: t.id_token as string, post_logout_redirect_uri: uri });
      await expectErrorPage(await navigate(p, `/oauth/logout?${q.toString()}`, session));
    }
    const forged = new URLSearchParams({ id_token_hint: `${t.id_token as string}x`, post_logout_redirect_uri: 'https://app.example/' });
    await expectErrorPage(await navigate(p, `/oauth/logout?${forged.toString()}`, session));
    expect((await codeFor(p, session)).code).toBeTruthy();
  });

  it("a native app's post-logout URI (a private-use scheme) gets the confirmation page, whose form may lead there", async () => {
    const session = (await signIn(p)).cookie;
    const page = await navigate(p, `/oauth/logout?client_id=native&post_logout_redirect_uri=${encodeURIComponent('com.example.app:/signed-out')}`, session);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("form-action 'self' com.example.app:");
    const ok = await postForm(p, '/oauth/logout', formFields(await page.text()), session);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('com.example.app:/signed-out');
  });

  it('without id_token_hint: a confirmation page; its form signs out, a cross-site post does not', async () => {
    const session = (await signIn(p)).cookie;
    const page = await navigate(p, `/oauth/logout?client_id=spa&post_logout_redirect_uri=${encodeURIComponent('https://app.example/')}&state=s`, session);
    expect(page.status).toBe(200);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const fields = formFields(await page.text());
    const cross = await postForm(p, '/oauth/logout', fields, session, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    await expectErrorPage(cross, 403);
    expect((await codeFor(p, session)).code).toBeTruthy();
    const ok = await postForm(p, '/oauth/logout', fields, session);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('https://app.example/?state=s');
    const after = await navigate(p, authorizeQuery('spa', SPA_CB, pkce().challenge), session);
    expect(after.headers.get('location')).toMatch(/^\/auth\/sign-in\?flow=/);
  });
});

describe('discovery', () => {
  it("README's and docs' discovery tables list exactly the fields Gatehouse serves", async () => {
    const served = Object.keys((await (await fetch(`${p.g.url}/.well-known/openid-configuration`)).json()) as object).sort();
    for (const [file, after] of [
      ['README.md', 'Every field, as the demo'],
      ['docs/oauth-provider.md', '| Field | Value |'],
    ] as const) {
      const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
      // the first table after the marker: its consecutive lines starting with "|"
      const lines = text.slice(text.indexOf(after)).split('\n');
      const first = lines.findIndex((l) => l.startsWith('|'));
      const end = lines.findIndex((l, i) => i > first && !l.startsWith('|'));
      const rows = lines.slice(first, end).filter((l) => l.startsWith('| `'));
      const listed = rows.flatMap((r) => [...(r.split('|')[1] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string)).sort();
      expect(listed, file).toEqual(served);
    }
  });

  it('both documents list every required field and only what is enabled', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const m = (await (await fetch(`${p.g.url}${path}`)).json()) as Record<string, unknown>;
      expect(m).toMatchObject({
        issuer: p.origin,
        authorization_endpoint: `${p.origin}/oauth/authorize`,
        token_endpoint: `${p.origin}/oauth/token`,
        userinfo_endpoint: `${p.origin}/oauth/userinfo`,
        end_session_endpoint: `${p.origin}/oauth/logout`,
        jwks_uri: `${p.origin}/.well-known/jwks.json`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      });
      expect(m.grant_types_supported).not.toContain('password');
    }
  });
});

describe('CORS for browser apps', () => {
  const preflightFor = (path: string, origin: string) =>
    fetch(`${p.g.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  it('a registered client origin may call the token, revoke and userinfo endpoints; preflights need no token', async () => {
    for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/userinfo']) {
      const r = await preflightFor(path, 'https://app.example');
      expect(r.status).toBe(204);
      expect(r.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(r.headers.get('access-control-allow-headers')).toContain('authorization');
      expect(r.headers.get('access-control-allow-credentials')).toBeNull();
    }
    const { code, verifier } = await codeFor(p, cookie);
    const r = await redeem(code, verifier, {}, { origin: 'https://app.example' });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBe('https://app.example');
    // errors are readable by the app too
    const bad = await redeem('nope', verifier, {}, { origin: 'https://app.example' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });

  it('any other origin gets no CORS allowance (the browser then blocks the call)', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'http://app.example', 'null']) {
      const r = await preflightFor('/oauth/token', origin);
      expect(r.status).toBe(204);
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
      const post = await redeem('nope', 'x', {}, { origin });
      expect(post.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('discovery and the JWKS are public documents: any origin may read them', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
      const r = await fetch(`${p.g.url}${path}`, { headers: { origin: 'https://anyone.example' } });
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
    }
  });
});

describe('an issuer with a path', () => {
  it('openid-client discovers it both ways (OpenID Discovery and RFC 8414) and runs the code flow and client credentials against it', async () => {
    const port = await freePort();
    const iss = `http://127.0.0.1:${port}/id`;
    const pp = await startProvider({ issuer: { iss } }, port);
    try {
      for (const algorithm of ['oidc', 'oauth2'] as const) {
        const config = await oidc.discovery(new URL(iss), 'nightly', undefined, oidc.ClientSecretBasic(SECRET), {
          algorithm,
          execute: [oidc.allowInsecureRequests],
        });
        expect(config.serverMetadata().issuer).toBe(iss);
        const t = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' });
        expect(decodeJwt(t.access_token)).toMatchObject({ iss, sub: 'nightly' });
      }
      const spa = await oidc.discovery(new URL(iss), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const c = (await signIn(pp)).cookie;
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(spa, {
        redirect_uri: SPA_CB,
        scope: 'openid email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'st',
      });
      const r = await navigate(pp, url.href.replace(pp.origin, ''), c);
      expect(r.status).toBe(302);
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(r.headers.get('location') ?? ''), {
        pkceCodeVerifier: verifier,
        expectedState: 'st',
        idTokenExpected: true,
      });
      expect(tokens.claims()).toMatchObject({ iss, aud: 'spa', sub: 'alice' });
    } finally {
      await pp.stop();
    }
  });
});
