/**
 * Gatehouse as an OAuth / OpenID provider (SPEC §8) for tests: a gateway with
 * sessions on a loopback http origin, a users file with real argon2 hashes,
 * registered clients, a real upstream behind a protected route, and the
 * steps a browser takes (sign-in form, consent form) done with fetch and
 * fetch metadata, so refusal tests need no browser.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { startGateway, type TestGateway } from './gateway.js';
import { hashed } from './issuer.js';
import { makeKey, writeJwkFile } from './keys.js';
import { freePort } from './redis.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const ALICE = 'alice';
export const ALICE_PASSWORD = 'alice-password-1';
export const SECRET = 'nightly-report-secret-0123456789';

export interface Provider {
  g: TestGateway;
  origin: string;
  up: TestUpstream;
  /** the raw config, to start a second instance with it */
  raw: Record<string, unknown>;
  stop(): Promise<void>;
}

/** The clients most tests use: a public SPA (first-party and not), a confidential web app, a service, a loopback native app. */
export function defaultClients(): Record<string, unknown>[] {
  return [
    {
      id: 'spa',
      name: 'Orders SPA',
      redirectUris: ['https://app.example/callback'],
      postLogoutRedirectUris: ['https://app.example/'],
      consent: false,
      scopes: ['openid', 'profile', 'email', 'orders:read'],
    },
    {
      id: 'thirdparty',
      name: 'Report Builder',
      secret: SECRET,
      redirectUris: ['https://reports.example/cb'],
      scopes: ['openid', 'profile', 'orders:read', 'orders:write'],
      grants: ['authorization_code', 'refresh_token'],
    },
    { id: 'nightly', secret: SECRET, grants: ['client_credentials'], scopes: ['reports:read'] },
    { id: 'native', redirectUris: ['http://127.0.0.1/cb'], postLogoutRedirectUris: ['com.example.app:/signed-out'], consent: false, scopes: ['openid'] },
  ];
}

export interface ProviderOptions {
  clients?: Record<string, unknown>[];
  issuer?: Record<string, unknown>;
  revocation?: Record<string, unknown>;
  /** share one key and users file between instances */
  shared?: { keyFile: string; usersFile: string };
  /** another instance's origin: instances of one fleet share the public URL (and so the issuer) */
  publicUrl?: string;
}

export async function sharedFiles(): Promise<{ keyFile: string; usersFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-oauth-'));
  const usersFile = join(dir, 'users.yaml');
  writeFileSync(
    usersFile,
    stringify({
      users: [
        {
          username: ALICE,
          password: await hashed(ALICE_PASSWORD),
          roles: ['user'],
          scope: 'orders:read',
          email: 'alice@example.com',
          email_verified: true,
          name: 'Alice Liddell',
        },
      ],
    }),
  );
  return { keyFile: writeJwkFile((await makeKey('ES256')).privateJwk, dir), usersFile };
}

export async function startProvider(opts: ProviderOptions = {}, port?: number): Promise<Provider> {
  const files = opts.shared ?? (await sharedFiles());
  const p = port ?? (await freePort());
  const origin = opts.publicUrl ?? `http://127.0.0.1:${p}`;
  const up = await startUpstream();
  const raw = {
    server: { listen: `127.0.0.1:${p}`, publicUrl: origin },
    issuer: { signingKeys: [{ file: files.keyFile }], users: { file: files.usersFile }, clients: opts.clients ?? defaultClients(), ...opts.issuer },
    sessions: {},
    ...(opts.revocation ? { revocation: opts.revocation } : {}),
    routes: [{ name: 'api', match: { path: '/api/**' }, upstream: up.url, auth: 'required' }],
  };
  const g = await startGateway(raw);
  return {
    g,
    origin,
    up,
    raw,
    stop: async () => {
      await g.stop();
      await up.close();
    },
  };
}

/** A PKCE pair (RFC 7636, S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
const sameOrigin = (origin: string) => ({ origin, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'navigate' });

/** GET a path on the provider as a navigation, without following redirects. */
export function navigate(p: Provider, pathOrUrl: string, cookie = ''): Promise<Response> {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${p.g.url}${pathOrUrl}`;
  return fetch(url, { redirect: 'manual', headers: { ...(cookie ? { cookie } : {}), 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none' } });
}

/** Signs in through the form (from a flow's sign-in page when given); returns the session cookie pair and where the form sent the browser. */
export async function signIn(p: Provider, signInPath = '/auth/sign-in'): Promise<{ cookie: string; location: string }> {
  const html = await (await navigate(p, signInPath)).text();
  const r = await fetch(`${p.g.url}/auth/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...sameOrigin(p.origin) },
    body: new URLSearchParams({ username: ALICE, password: ALICE_PASSWORD, csrf: field(html, 'csrf'), flow: field(html, 'flow') }).toString(),
  });
  expect(r.status).toBe(303);
  return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] as string, location: r.headers.get('location') ?? '' };
}

/** The hidden fields of a consent or sign-out page. */
export function formFields(html: string): { csrf: string; request: string } {
  return { csrf: field(html, 'csrf'), request: field(html, 'request') };
}

/** Posts a Gatehouse form as the browser would from its own page (fetch metadata, Origin). */
export function postForm(p: Provider, path: string, body: Record<string, string>, cookie: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${p.g.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...sameOrigin(p.origin), ...headers },
    body: new URLSearchParams(body).toString(),
  });
}

/** The authorization request's query for `client` with PKCE. */
export function authorizeQuery(client: string, redirectUri: string, challenge: string, extra: Record<string, string> = {}): string {
  return `/oauth/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: client,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-123',
    ...extra,
  }).toString()}`;
}

/** Runs the code flow of a first-party (no consent) client for a signed-in browser; returns the code and the PKCE verifier. */
export async function codeFor(
  p: Provider,
  cookie: string,
  client = 'spa',
  redirectUri = 'https://app.example/callback',
  extra: Record<string, string> = {},
): Promise<{ code: string; verifier: string; location: URL }> {
  const { verifier, challenge } = pkce();
  const r = await navigate(p, authorizeQuery(client, redirectUri, challenge, { scope: 'openid profile email orders:read', ...extra }), cookie);
  expect(r.status, await r.clone().text()).toBe(302);
  const location = new URL(r.headers.get('location') ?? '');
  const code = location.searchParams.get('code');
  expect(code, location.href).toBeTruthy();
  return { code: code as string, verifier, location };
}

/** POST /oauth/token with form parameters. */
export function tokenRequest(p: Provider, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${p.g.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
