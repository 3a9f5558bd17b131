/**
 * GET /auth/profile, JWKS and discovery documents (SPEC §3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MISSING_TOKEN_DESCRIPTION } from '../../src/errors.js';
import { makeKey, signToken } from '../helpers/keys.js';
import { expectError } from '../helpers/expect.js';
import { postForm, request } from '../helpers/http.js';
import { ISS, hashed, login, startIssuer, type IssuerEnv } from '../helpers/issuer.js';

const ALICE = 'alice@example.com';
const PW = 'alice-password';
let env: IssuerEnv;

beforeAll(async () => {
  env = await startIssuer({
    users: [
      {
        username: ALICE,
        password: await hashed(PW),
        roles: ['admin', 'support'],
        scope: 'orders:read orders:write',
        email: ALICE,
        name: 'Alice Liddell',
        team: 'blue',
      },
    ],
  });
});

afterAll(async () => {
  await env?.stop();
});

describe('GET /auth/profile', () => {
  it('returns sub and the configured claims of the token', async () => {
    const t = await login(env.g.url, ALICE, PW);
    const r = await request(env.g.url, '/auth/profile', { token: t.access_token });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const profile = JSON.parse(r.text) as Record<string, unknown>;
    expect(profile).toMatchObject({ sub: ALICE, email: ALICE, name: 'Alice Liddell', roles: ['admin', 'support'], scope: 'orders:read orders:write' });
    // fields not listed in issuer.claims are not published
    expect(profile).not.toHaveProperty('team');
    expect(profile).not.toHaveProperty('password');
    // the profile endpoint is answered by Gatehouse, not proxied
    expect(env.up.seen.some((s) => s.url.startsWith('/auth/'))).toBe(false);
  });

  it('without a token: 401 unauthorized with the SPEC challenge', async () => {
    const r = await request(env.g.url, '/auth/profile');
    const body = expectError(r, 401, 'unauthorized');
    expect(body.error_description).toBe(MISSING_TOKEN_DESCRIPTION);
    expect(body.error_description).toBe('You must specify a Bearer token in the Authorization header to access this resource');
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
  });

  it('with a revoked token: 401 invalid_token', async () => {
    const t = await login(env.g.url, ALICE, PW);
    expect((await request(env.g.url, '/auth/profile', { token: t.access_token })).status).toBe(200);
    expect((await postForm(env.g.url, '/oauth/revoke', { token: t.access_token })).status).toBe(200);
    const r = await request(env.g.url, '/auth/profile', { token: t.access_token });
    expectError(r, 401, 'invalid_token');
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="gatehouse", error="invalid_token"/);
    expect(r.text).not.toContain(ALICE);
  });

  it('with a garbage, foreign or refresh token: 401 invalid_token; with another scheme: 401 unauthorized', async () => {
    const t = await login(env.g.url, ALICE, PW);
    const foreign = await signToken(await makeKey('ES256', env.key.kid), { roles: ['admin'] }, { iss: ISS, sub: ALICE });
    for (const token of ['garbage', 'a.b.c', foreign, t.refresh_token]) {
      const r = await request(env.g.url, '/auth/profile', { token });
      expectError(r, 401, 'invalid_token');
      expect(r.text).not.toContain(ALICE);
    }
    const basic = await request(env.g.url, '/auth/profile', { headers: { authorization: 'Basic YWxpY2U6cHc=' } });
    expectError(basic, 401, 'unauthorized');
    expect(basic.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
  });

  it('POST /auth/profile -> 405', async () => {
    const r = await request(env.g.url, '/auth/profile', { method: 'POST' });
    expectError(r, 405, 'method_not_allowed');
    expect(r.headers.get('allow')).toBe('GET');
  });
});

describe('published documents', () => {
  it('GET /.well-known/jwks.json lists the public signing key and no private parts', async () => {
    const r = await request(env.g.url, '/.well-known/jwks.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const { keys } = JSON.parse(r.text) as { keys: Array<Record<string, unknown>> };
    expect(keys).toHaveLength(1);
    const [k] = keys;
    expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', kid: env.key.kid, alg: 'ES256', use: 'sig', x: env.key.publicJwk.x, y: env.key.publicJwk.y });
    expect(k).not.toHaveProperty('d');
  });

  it('GET /.well-known/openid-configuration has issuer, jwks_uri, token_endpoint, revocation_endpoint, grant_types_supported', async () => {
    const r = await request(env.g.url, '/.well-known/openid-configuration');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = JSON.parse(r.text) as Record<string, unknown>;
    expect(doc.issuer).toBe(ISS);
    expect(doc.jwks_uri).toBe(`${ISS}/.well-known/jwks.json`);
    expect(doc.token_endpoint).toBe(`${ISS}/oauth/token`);
    expect(doc.revocation_endpoint).toBe(`${ISS}/oauth/revoke`);
    expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['password', 'refresh_token']));
    expect(doc.grant_types_supported).not.toContain('client_credentials');
    expect(doc.grant_types_supported).not.toContain('implicit');
  });

  it('RFC 8414: the same metadata at /.well-known/oauth-authorization-server (404 before)', async () => {
    const a = await request(env.g.url, '/.well-known/oauth-authorization-server');
    const b = await request(env.g.url, '/.well-known/openid-configuration');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.text)).toEqual(JSON.parse(b.text));
    expect(JSON.parse(a.text)).toMatchObject({ issuer: ISS });
  });

  it('an issuer with a path serves its metadata where RFC 8414 and OIDC Discovery look for it, and names itself exactly', async () => {
    const iss = `${ISS}/tenant/a`;
    const pathEnv = await startIssuer({ iss, users: [{ username: ALICE, password: await hashed(PW) }] });
    try {
      for (const path of ['/.well-known/oauth-authorization-server/tenant/a', '/tenant/a/.well-known/openid-configuration']) {
        const r = await request(pathEnv.g.url, path);
        expect(r.status, path).toBe(200);
        const doc = JSON.parse(r.text) as Record<string, unknown>;
        expect(doc.issuer).toBe(iss);
        expect(doc.token_endpoint).toBe(`${ISS}/oauth/token`);
      }
      // another tenant's location is not this issuer's
      expect((await request(pathEnv.g.url, '/.well-known/oauth-authorization-server/tenant/b')).status).toBe(404);
    } finally {
      await pathEnv.stop();
    }
  });

  it('HEAD works like GET on the documents; POST is 405', async () => {
    for (const path of ['/.well-known/jwks.json', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const head = await request(env.g.url, path, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.text).toBe('');
      const post = await request(env.g.url, path, { method: 'POST' });
      expectError(post, 405, 'method_not_allowed');
    }
  });
});
