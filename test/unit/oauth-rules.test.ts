/** The OAuth 2.1 rules that stand alone (SPEC §8): PKCE, redirect URI matching, client authentication, scopes, metadata paths, at_hash. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { authenticateClient, readClientCredentials, type OAuthClient } from '../../src/issuer/oauth/clients.js';
import { atHash, scopedClaims } from '../../src/issuer/oauth/id-token.js';
import { metadataPaths } from '../../src/issuer/oauth/metadata.js';
import { checkChallenge, verifierMatches } from '../../src/issuer/oauth/pkce.js';
import { matchRedirectUri } from '../../src/issuer/oauth/redirect-uri.js';
import { redirectUriProblem } from '../../src/config/validate/clients.js';
import { requestedScopes, userScopes } from '../../src/issuer/oauth/scopes.js';
import { hashPassword } from '../../src/tokens/passwords.js';

const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

describe('PKCE (RFC 7636, S256 only)', () => {
  it('the RFC 7636 appendix B example verifies', () => {
    expect(s256(VERIFIER)).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    expect(verifierMatches('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', VERIFIER)).toBe(true);
  });
  it.each([
    ['a missing challenge', undefined, 'S256', /required/],
    ['an empty challenge', '', 'S256', /required/],
    ['plain', s256(VERIFIER), 'plain', /plain is not supported/],
    ['no method (RFC 7636 would default to plain)', s256(VERIFIER), undefined, /must be S256/],
    ['a challenge that is not a SHA-256', 'short', 'S256', /43 characters/],
  ])('refuses %s', (_what, challenge, method, why) => {
    expect(checkChallenge(challenge, method)).toMatch(why);
  });
  it('refuses a wrong, missing, short, long or non-unreserved verifier', () => {
    const c = s256(VERIFIER);
    for (const v of [undefined, '', VERIFIER.slice(0, 42), VERIFIER + 'x', 'a'.repeat(129), VERIFIER.replace('d', '+'), c])
      expect(verifierMatches(c, v)).toBe(false);
    expect(verifierMatches(c, VERIFIER)).toBe(true);
  });
});

describe('redirect URIs: exact match, loopback port exception only', () => {
  const registered = ['https://app.example/callback', 'http://127.0.0.1/cb', 'http://[::1]/cb', 'com.example.app:/oauth'];
  it.each([
    ['https://app.example/callback', true],
    ['https://app.example/callback/', false],
    ['https://APP.example/callback', false],
    ['https://app.example/Callback', false],
    ['https://app.example/callback?x=1', false],
    ['https://app.example/callback#frag', false],
    ['https://app.example:443/callback', false],
    ['https://app.example:8443/callback', false],
    ['https://user@app.example/callback', false],
    ['https://app.example/callback/../callback', false],
    ['https://app.example/callback%2f', false],
    ['https://app.example.evil/callback', false],
    ['http://app.example/callback', false],
    ['http://127.0.0.1/cb', true],
    ['http://127.0.0.1:51004/cb', true],
    ['http://127.0.0.1:51004/cb/', false],
    ['http://127.0.0.1:51004/other', false],
    ['http://127.0.0.1:0/cb', false],
    ['http://127.0.0.1:051004/cb', false],
    ['http://[::1]:8080/cb', true],
    ['http://localhost:8080/cb', false],
    ['com.example.app:/oauth', true],
    ['com.example.app:/oauth2', false],
    ['', false],
  ])('%s -> %s', (given, ok) => {
    expect(matchRedirectUri(registered, given) !== null).toBe(ok);
  });
  it('what may be registered', () => {
    expect(redirectUriProblem('https://app.example/cb')).toBeNull();
    expect(redirectUriProblem('http://127.0.0.1/cb')).toBeNull();
    expect(redirectUriProblem('com.example.app:/cb')).toBeNull();
    expect(redirectUriProblem('http://app.example/cb')).toMatch(/https/);
    expect(redirectUriProblem('https://app.example/cb#x')).toMatch(/fragment/);
    expect(redirectUriProblem('https://u:p@app.example/cb')).toMatch(/userinfo/);
    expect(redirectUriProblem('/relative')).toMatch(/absolute/);
    expect(redirectUriProblem('javascript:alert(1)')).not.toBeNull();
  });
});

describe('client authentication (RFC 6749 §2.3.1)', async () => {
  const client = (over: Partial<OAuthClient>): OAuthClient => ({
    id: 'c',
    name: 'c',
    redirectUris: [],
    postLogoutRedirectUris: [],
    consent: true,
    scopes: [],
    grants: ['client_credentials'],
    secret: null,
    secretHash: null,
    ...over,
  });
  const registry = new Map<string, OAuthClient>([
    ['spa', client({ id: 'spa' })],
    ['svc', client({ id: 'svc', secret: 's3cret:with/odd+chars' })],
    ['hashed', client({ id: 'hashed', secretHash: await hashPassword('hashed-secret') })],
  ]);
  const basic = (id: string, secret: string) => ({
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
  });
  const fails = async (p: Promise<unknown>, reason: string, challenge: boolean) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('invalid_client');
    expect((err as GatewayError).status).toBe(401);
    expect((err as GatewayError).reason).toBe(reason);
    expect((err as GatewayError).headers['www-authenticate'] !== undefined).toBe(challenge);
  };

  it('Basic (form-urlencoded inside), post, and public clients', async () => {
    expect((await authenticateClient(registry, readClientCredentials(basic('svc', 's3cret:with/odd+chars'), {}))).id).toBe('svc');
    expect((await authenticateClient(registry, readClientCredentials({}, { client_id: 'svc', client_secret: 's3cret:with/odd+chars' }))).id).toBe('svc');
    expect((await authenticateClient(registry, readClientCredentials({}, { client_id: 'hashed', client_secret: 'hashed-secret' }))).id).toBe('hashed');
    expect((await authenticateClient(registry, readClientCredentials({}, { client_id: 'spa' }))).id).toBe('spa');
  });
  it('refuses a wrong or missing secret, an unknown client, a public client with a secret, no client at all', async () => {
    await fails(authenticateClient(registry, readClientCredentials(basic('svc', 'wrong'), {})), 'wrong_client_secret', true);
    await fails(authenticateClient(registry, readClientCredentials({}, { client_id: 'svc', client_secret: 'wrong' })), 'wrong_client_secret', false);
    await fails(authenticateClient(registry, readClientCredentials({}, { client_id: 'hashed', client_secret: 'wrong' })), 'wrong_client_secret', false);
    await fails(authenticateClient(registry, readClientCredentials({}, { client_id: 'svc' })), 'missing_client_secret', false);
    await fails(authenticateClient(registry, readClientCredentials(basic('nobody', 'x'), {})), 'unknown_client', true);
    await fails(authenticateClient(registry, readClientCredentials({}, { client_id: 'spa', client_secret: 'x' })), 'public_client_with_secret', false);
    await fails(authenticateClient(registry, readClientCredentials({}, {})), 'no_client', false);
  });
  it('refuses two methods at once and a client_id that contradicts Basic', () => {
    expect(() => readClientCredentials(basic('svc', 'x'), { client_secret: 'x' })).toThrow(/one client authentication method/);
    expect(() => readClientCredentials(basic('svc', 'x'), { client_id: 'spa' })).toThrow(/does not match/);
  });
});

describe('scopes (SPEC §8)', () => {
  const allowed = ['openid', 'profile', 'email', 'orders:read', 'orders:write'];
  it("no scope asks for all of the client's scopes; duplicates collapse", () => {
    expect(requestedScopes(undefined, allowed)).toEqual(allowed);
    expect(requestedScopes('openid openid email', allowed)).toEqual(['openid', 'email']);
  });
  it('a scope the client may not ask for, or a malformed one, is invalid_scope', () => {
    expect(() => requestedScopes('openid admin', allowed)).toThrow(/"admin" is not allowed/);
    expect(() => requestedScopes('openid "x"', allowed)).toThrow(/not a valid scope/);
  });
  it('a user gets the OIDC scopes and the ones in their own scope', () => {
    expect(userScopes(['openid', 'email', 'orders:read', 'orders:write'], 'orders:read')).toEqual(['openid', 'email', 'orders:read']);
  });
});

describe('metadata locations (RFC 8414 §3, OIDC Discovery §4)', () => {
  it.each([
    ['https://idp.example', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'],
    ['https://idp.example/', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'],
    ['https://idp.example/tenant/a', '/.well-known/oauth-authorization-server/tenant/a', '/tenant/a/.well-known/openid-configuration'],
  ])('%s', (iss, oauth, openid) => {
    expect(metadataPaths(iss)).toEqual({ oauth, openid });
  });
});

describe('at_hash (OIDC Core §3.1.3.6)', () => {
  it('is the left half of the SHA-256 of the access token for ES256/RS256, SHA-384 for ES384, SHA-512 for EdDSA', () => {
    const t = 'eyJhbGciOiJFUzI1NiJ9.e30.sig';
    expect(atHash(t, 'ES256')).toBe(createHash('sha256').update(t).digest().subarray(0, 16).toString('base64url'));
    expect(atHash(t, 'ES384')).toBe(createHash('sha384').update(t).digest().subarray(0, 24).toString('base64url'));
    expect(atHash(t, 'EdDSA')).toBe(createHash('sha512').update(t).digest().subarray(0, 32).toString('base64url'));
  });
});

describe('claims released by scope (OIDC Core §5.4)', () => {
  const user = {
    username: 'alice@example.com',
    password: 'x',
    roles: [],
    scope: '',
    fields: { name: 'Alice', email: 'alice@example.com', phone_number: '+1', tenant: 'acme' },
  };
  it('profile and email release their claims only; preferred_username defaults to the username', () => {
    expect(scopedClaims(user, ['openid'])).toEqual({});
    expect(scopedClaims(user, ['openid', 'profile'])).toEqual({ name: 'Alice', preferred_username: 'alice@example.com' });
    expect(scopedClaims(user, ['email'])).toEqual({ email: 'alice@example.com' });
  });
});
