/**
 * Gatehouse as an OpenID provider, driven the way real applications use it
 * (issue "OAuth 2.1 authorization server and OpenID provider"): openid-client
 * discovers the issuer, builds the authorization URL and does everything a
 * relying party does in code, while a real Chromium signs in on Gatehouse's
 * page, consents on its consent page and lands on the client's real
 * callback server. Nothing is mocked: a real gateway, users file, signing key
 * and upstream, all on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { ALICE, ALICE_PASSWORD, SECRET, startProvider, type Provider } from '../helpers/oauth.js';

let p: Provider;
let browser: Browser;
let callback: Server;
let cbOrigin: string;
/** every URL the client's callback server was sent to */
const arrived: URL[] = [];

beforeAll(async () => {
  callback = createServer((req, res) => {
    arrived.push(new URL(req.url ?? '/', cbOrigin));
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>client</title><p>back at the client</p>');
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', () => r()));
  cbOrigin = `http://127.0.0.1:${(callback.address() as AddressInfo).port}`;
  p = await startProvider({
    clients: [
      {
        id: 'web',
        name: 'Orders Web',
        redirectUris: ['http://127.0.0.1/cb'],
        postLogoutRedirectUris: [`${cbOrigin}/signed-out`],
        scopes: ['openid', 'profile', 'email', 'orders:read'],
      },
      { id: 'confidential', name: 'Reports', secret: SECRET, redirectUris: ['http://127.0.0.1/cb'], consent: false, scopes: ['openid', 'email'] },
      { id: 'nightly', secret: SECRET, grants: ['client_credentials'], scopes: ['reports:read'] },
    ],
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await p?.stop();
  callback?.closeAllConnections();
  await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
});

const insecure = { execute: [oidc.allowInsecureRequests] };
const discover = (clientId: string, secret?: string) =>
  secret === undefined
    ? oidc.discovery(new URL(p.origin), clientId, undefined, oidc.None(), insecure)
    : oidc.discovery(new URL(p.origin), clientId, undefined, oidc.ClientSecretBasic(secret), insecure);

/** An authorization URL with PKCE S256 for `verifier`, back to the callback server's /cb. */
async function authorizationUrl(config: oidc.Configuration, verifier: string, params: Record<string, string>): Promise<URL> {
  return oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${cbOrigin}/cb`,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  });
}

/** Waits until the browser is at the client's callback and returns that URL. */
async function landedAt(page: Page, path: string): Promise<URL> {
  await page.waitForURL((u) => u.href.startsWith(`${cbOrigin}${path}`), { timeout: 15_000 });
  return new URL(page.url());
}

async function signInOnPage(page: Page): Promise<void> {
  await page.fill('input[name="username"]', ALICE);
  await page.fill('input[name="password"]', ALICE_PASSWORD);
  await page.click('button[type="submit"]');
}

// several browser round trips per test: generous for a loaded 2-core machine
describe('openid-client and Chromium against Gatehouse', { timeout: 60_000 }, () => {
  it('code flow with PKCE: sign-in page, consent page, code exchange, ID token validated, userinfo, refresh, revocation, end-session', async () => {
    const config = await discover('web');
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(p.origin);
    expect(meta.authorization_endpoint).toBe(`${p.origin}/oauth/authorize`);

    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await authorizationUrl(config, verifier, { scope: 'openid profile email orders:read', state, nonce });

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    // Gatehouse's sign-in page, naming the client
    expect(new URL(page.url()).pathname).toBe('/auth/sign-in');
    expect(await page.textContent('body')).toContain('Orders Web');
    await signInOnPage(page);
    // the consent page names the client and every scope
    await page.waitForSelector('button[value="allow"]');
    const consentText = (await page.textContent('body')) ?? '';
    expect(consentText).toContain('Orders Web');
    for (const s of ['openid', 'profile', 'email', 'orders:read']) expect(consentText).toContain(s);
    await page.click('button[value="allow"]');
    const back = await landedAt(page, '/cb');
    expect(back.searchParams.get('iss')).toBe(p.origin);

    const tokens = await oidc.authorizationCodeGrant(config, back, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    expect(claims).toMatchObject({ iss: p.origin, aud: 'web', sub: ALICE, nonce, email: 'alice@example.com', name: 'Alice Liddell' });
    expect(tokens.scope).toBe('openid profile email orders:read');

    const info = await oidc.fetchUserInfo(config, tokens.access_token, ALICE);
    expect(info).toMatchObject({ sub: ALICE, email: 'alice@example.com', email_verified: true, name: 'Alice Liddell' });

    // the access token works at the protected API
    const before = p.up.seen.length;
    expect((await fetch(`${p.g.url}/api/orders`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
    expect(p.up.seen.length).toBe(before + 1);

    // refresh with rotation: a new pair; the old refresh token is then refused
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });

    // a second authorization for the same scopes: consent is remembered, the browser goes straight back
    const v2 = oidc.randomPKCECodeVerifier();
    const url2 = await authorizationUrl(config, v2, { scope: 'openid profile email orders:read', state: 'again' });
    await page.goto(url2.href);
    const back2 = await landedAt(page, '/cb');
    expect(back2.searchParams.get('state')).toBe('again');
    const tokens2 = await oidc.authorizationCodeGrant(config, back2, { pkceCodeVerifier: v2, expectedState: 'again', idTokenExpected: true });

    // revocation (RFC 7009) of the refreshed session's refresh token: it no longer refreshes
    await oidc.tokenRevocation(config, refreshed.refresh_token as string);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });

    // end-session with id_token_hint: back at the client's post-logout URI with state; the browser session is over
    const endUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens2.id_token as string,
      post_logout_redirect_uri: `${cbOrigin}/signed-out`,
      state: 'bye',
    });
    await page.goto(endUrl.href);
    const out = await landedAt(page, '/signed-out');
    expect(out.searchParams.get('state')).toBe('bye');
    await page.goto(url2.href);
    expect(new URL(page.url()).pathname).toBe('/auth/sign-in');
    await context.close();
  });

  it('a single-page app exchanges its code from the browser itself (CORS for its origin) and calls userinfo', async () => {
    const config = await discover('web');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(config, verifier, { scope: 'openid email', prompt: 'consent', state: 'spa' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await signInOnPage(page);
    await page.waitForSelector('button[value="allow"]');
    await page.click('button[value="allow"]');
    const back = await landedAt(page, '/cb');
    // the app's page (origin cbOrigin) calls Gatehouse's endpoints with fetch, as an SPA does
    const result = await page.evaluate(
      async ({ issuer, code, verifier, redirectUri }) => {
        const token = await fetch(`${issuer}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri, client_id: 'web' }),
        });
        const tokens = (await token.json()) as { access_token: string };
        const info = await fetch(`${issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        return { token: token.status, userinfo: (await info.json()) as Record<string, unknown> };
      },
      { issuer: p.origin, code: back.searchParams.get('code') as string, verifier, redirectUri: `${cbOrigin}/cb` },
    );
    expect(result.token).toBe(200);
    expect(result.userinfo).toMatchObject({ sub: ALICE, email: 'alice@example.com' });
    await context.close();
  });

  it('a first-party confidential client: no consent page; client_secret_basic at the token endpoint', async () => {
    const config = await discover('confidential', SECRET);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(config, verifier, { scope: 'openid email', state: 's1' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await signInOnPage(page);
    const back = await landedAt(page, '/cb');
    const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: 's1', idTokenExpected: true });
    expect(tokens.claims()).toMatchObject({ sub: ALICE, aud: 'confidential', email: 'alice@example.com' });
    // the same code again: refused, and the tokens it gave are revoked
    await expect(oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: 's1' })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect((await fetch(`${p.g.url}/api/orders`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
    await context.close();
  });

  it('client credentials for a service: a token for the client itself that the API accepts', async () => {
    const config = await discover('nightly', SECRET);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' });
    expect(tokens.scope).toBe('reports:read');
    expect(tokens.refresh_token).toBeUndefined();
    expect((await fetch(`${p.g.url}/api/reports`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
    await oidc.tokenRevocation(config, tokens.access_token);
    expect((await fetch(`${p.g.url}/api/reports`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
    const wrong = await discover('nightly', 'w'.repeat(32));
    // 401 with a Basic challenge, which openid-client reports as a WWW-Authenticate challenge
    await expect(oidc.clientCredentialsGrant(wrong)).rejects.toMatchObject({ status: 401, cause: [expect.objectContaining({ scheme: 'basic' })] });
  });

  it('the consent page cannot be framed: Chromium refuses to show it in another site’s iframe', async () => {
    const config = await discover('web');
    const url = await authorizationUrl(config, oidc.randomPKCECodeVerifier(), { scope: 'openid profile', prompt: 'consent' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await signInOnPage(page);
    await page.waitForSelector('button[value="allow"]');
    // a page on another origin (the callback server) frames the consent URL
    const framed = await context.newPage();
    await framed.goto(`${cbOrigin}/evil`);
    await framed.setContent(`<iframe id="f" src="${page.url()}"></iframe>`);
    await framed.waitForLoadState('load');
    const frame = framed.frames().find((f) => f !== framed.mainFrame());
    const framedButton = frame ? await frame.$('button[value="allow"]').catch(() => null) : null;
    expect(framedButton).toBeNull();
    // the same selector finds the button on the page itself, so the check above can fail
    expect(await page.$('button[value="allow"]')).not.toBeNull();
    await context.close();
  });
});
