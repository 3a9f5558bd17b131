/**
 * The OAuth provider's state lives in the shared store (SPEC §8, issue
 * "OAuth 2.1 authorization server and OpenID provider"): two Gatehouse
 * instances on one real redis-server, so a sign-in begun on one finishes on
 * the other, a code issued by one is redeemed at the other (once), consent
 * given on one is remembered by the other, and end-session on one ends the
 * session on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import {
  authorizeQuery,
  codeFor,
  formFields,
  navigate,
  pkce,
  postForm,
  sharedFiles,
  signIn,
  startProvider,
  tokenRequest,
  type Provider,
} from '../helpers/oauth.js';

const SPA_CB = 'https://app.example/callback';
let redis: TestRedis;
let A: Provider;
let B: Provider;

beforeAll(async () => {
  redis = await startRedis();
  const shared = await sharedFiles();
  const revocation = { store: 'redis', redis: { url: redis.url, keyPrefix: `gh-oauth-${process.pid}:`, commandTimeout: '5s' } };
  A = await startProvider({ shared, revocation });
  B = await startProvider({ shared, revocation, publicUrl: A.origin });
});
afterAll(async () => {
  await A?.stop();
  await B?.stop();
  await redis?.stop();
});

const redeemAt = (p: Provider, code: string, verifier: string) =>
  tokenRequest(p, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: SPA_CB, client_id: 'spa' });
const api = (p: Provider, token: string) => fetch(`${p.g.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });

describe('two instances, one Redis', () => {
  it('a code issued by A is redeemed at B; redeeming it again at A fails and revokes what B issued, on both', async () => {
    const { cookie } = await signIn(A);
    const { code, verifier } = await codeFor(A, cookie);
    const r = await redeemAt(B, code, verifier);
    expect(r.status).toBe(200);
    const t = (await r.json()) as Record<string, string>;
    expect((await api(A, t.access_token as string)).status).toBe(200);
    const again = await redeemAt(A, code, verifier);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
    // the revocation reaches both instances through the store (pub/sub, within a second)
    for (const p of [A, B]) {
      const deadline = Date.now() + 3000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        status = (await api(p, t.access_token as string)).status;
        if (status === 200) await new Promise((res) => setTimeout(res, 50));
      }
      expect(status).toBe(401);
    }
  });

  it('an authorization request begun at A: sign-in and consent at B, the code redeemed at A', async () => {
    const { verifier, challenge } = pkce();
    const start = await navigate(A, authorizeQuery('thirdparty', 'https://reports.example/cb', challenge, { scope: 'openid orders:read' }));
    expect(start.status).toBe(302);
    const signedIn = await signIn(B, start.headers.get('location') ?? '');
    const consent = await navigate(B, signedIn.location, signedIn.cookie);
    expect(consent.status).toBe(200);
    const allow = await postForm(B, '/oauth/authorize/consent', { ...formFields(await consent.text()), decision: 'allow' }, signedIn.cookie);
    expect(allow.status).toBe(303);
    const code = new URL(allow.headers.get('location') ?? '').searchParams.get('code') as string;
    const r = await tokenRequest(
      A,
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'https://reports.example/cb' },
      { authorization: `Basic ${Buffer.from('thirdparty:nightly-report-secret-0123456789').toString('base64')}` },
    );
    expect(r.status).toBe(200);
    // the consent given at B is remembered at A
    const second = await navigate(
      A,
      authorizeQuery('thirdparty', 'https://reports.example/cb', pkce().challenge, { scope: 'openid orders:read' }),
      signedIn.cookie,
    );
    expect(second.status).toBe(302);
    expect(new URL(second.headers.get('location') ?? '').searchParams.get('code')).toBeTruthy();
  });

  it('end-session at B (from another browser: only the id_token_hint) ends the browser session at A', async () => {
    const { cookie } = await signIn(A);
    const { code, verifier } = await codeFor(A, cookie);
    const t = (await (await redeemAt(A, code, verifier)).json()) as Record<string, string>;
    const out = await navigate(B, `/oauth/logout?${new URLSearchParams({ id_token_hint: t.id_token as string }).toString()}`);
    expect(out.status).toBe(302);
    const deadline = Date.now() + 3000;
    let location = '';
    while (Date.now() < deadline) {
      location = (await navigate(A, authorizeQuery('spa', SPA_CB, pkce().challenge), cookie)).headers.get('location') ?? '';
      if (location.startsWith('/auth/sign-in')) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(location).toMatch(/^\/auth\/sign-in\?flow=/);
  });
});
