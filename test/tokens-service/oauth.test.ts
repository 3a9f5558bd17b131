/**
 * The token service seen by a standard OAuth 2.0 client library
 * (oauth4webapi): discovery, the password and refresh_token grants, RFC 7009
 * revocation, and third-party verification of the issued tokens with jose
 * against the published JWKS. `iss` is the gateway's real URL, so the
 * library's issuer check is the real one.
 */
import { createServer } from 'node:net';
import { createRemoteJWKSet, jwtVerify, decodeJwt, type JWTVerifyGetKey } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiOk, expectApiRejected, hashed, headerOf, startIssuer, type IssuerEnv } from '../helpers/issuer.js';

const ALICE = 'alice@example.com';
const PW = 'correct horse battery staple';
const client: oauth.Client = { client_id: 'cli' };
const clientAuth = oauth.None();
/** plain http is fine here: loopback only */
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let env: IssuerEnv;
let issuer: URL;
let as: oauth.AuthorizationServer;
let remoteJwks: JWTVerifyGetKey;

/** A free loopback port: bind port 0, read it, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function passwordGrant(username: string, password: string, scope?: string): Promise<Response> {
  return oauth.genericTokenEndpointRequest(as, client, clientAuth, 'password', { username, password, ...(scope ? { scope } : {}) }, insecure);
}

async function expectOAuthError(promise: Promise<unknown>, status: number, error: string): Promise<oauth.ResponseBodyError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(oauth.ResponseBodyError);
  const rbe = err as oauth.ResponseBodyError;
  expect(rbe.status).toBe(status);
  expect(rbe.error).toBe(error);
  expect(typeof rbe.error_description).toBe('string');
  return rbe;
}

beforeAll(async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  env = await startIssuer({
    iss: url,
    server: { listen: `127.0.0.1:${port}` },
    users: [{ username: ALICE, password: await hashed(PW), roles: ['admin'], scope: 'orders:read orders:write', email: ALICE, name: 'Alice' }],
  });
  expect(env.g.url).toBe(url);
  issuer = new URL(url);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
  remoteJwks = createRemoteJWKSet(new URL(as.jwks_uri!));
});

afterAll(async () => {
  await env?.stop();
});

describe('discovery', () => {
  it('the library accepts the metadata and its issuer is the gateway URL', () => {
    expect(as.issuer).toBe(issuer.origin);
    expect(as.token_endpoint).toBe(`${issuer.origin}/oauth/token`);
    expect(as.revocation_endpoint).toBe(`${issuer.origin}/oauth/revoke`);
    expect(as.jwks_uri).toBe(`${issuer.origin}/.well-known/jwks.json`);
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['password', 'refresh_token']));
  });
});

describe('password and refresh_token grants', () => {
  it('password grant -> tokens a third party verifies against the JWKS; refresh grant -> a new pair', async () => {
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant(ALICE, PW));
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(900);
    expect(tokens.scope).toBe('orders:read orders:write');
    expect(typeof tokens.refresh_token).toBe('string');

    // third-party verification: only the published keys, standard checks
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, remoteJwks, { issuer: as.issuer, audience: 'api', typ: 'at+jwt' });
    expect(protectedHeader.kid).toBe(env.key.kid);
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.iss).toBe(issuer.origin);
    expect(payload.sub).toBe(ALICE);
    expect(payload.aud).toBe('api');
    expect(typeof payload.jti).toBe('string');
    expect(typeof payload.iat).toBe('number');
    expect(payload.exp).toBe((payload.iat as number) + 900);
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(60);
    expect(payload.roles).toEqual(['admin']);
    expect(payload.scope).toBe('orders:read orders:write');
    expect(payload.email).toBe(ALICE);
    expect(payload.name).toBe('Alice');
    expect(payload).not.toHaveProperty('password');

    // the refresh token: typ refresh+jwt, sub/jti/exp and a family id; never an access token
    const rt = tokens.refresh_token!;
    expect(headerOf(rt)).toMatchObject({ typ: 'refresh+jwt', kid: env.key.kid });
    const rtClaims = decodeJwt(rt);
    expect(rtClaims.sub).toBe(ALICE);
    expect(typeof rtClaims.jti).toBe('string');
    expect(rtClaims.exp).toBe((rtClaims.iat as number) + 14 * 24 * 3600);
    expect(typeof rtClaims.sid).toBe('string');
    expect(rtClaims.sid).toBe(payload.sid);
    expect(rtClaims.aud).not.toBe('api');
    await expect(jwtVerify(rt, remoteJwks, { issuer: as.issuer, audience: 'api', typ: 'at+jwt' })).rejects.toThrow();
    await expect(jwtVerify(tokens.access_token, remoteJwks, { issuer: as.issuer, typ: 'refresh+jwt' })).rejects.toThrow();

    await expectApiOk(env, tokens.access_token);

    // refresh grant
    const next = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, rt, insecure));
    expect(next.access_token).not.toBe(tokens.access_token);
    expect(next.refresh_token).toBeDefined();
    expect(next.refresh_token).not.toBe(rt);
    const verified = await jwtVerify(next.access_token, remoteJwks, { issuer: as.issuer, audience: 'api', typ: 'at+jwt' });
    expect(verified.payload.sub).toBe(ALICE);
    expect(verified.payload.sid).toBe(rtClaims.sid);
    expect(decodeJwt(next.refresh_token!).sid).toBe(rtClaims.sid);
    await expectApiOk(env, next.access_token);

    // the library sees reuse of the old refresh token as invalid_grant, and the family is gone
    await expectOAuthError(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, rt, insecure)),
      400,
      'invalid_grant',
    );
    await expectOAuthError(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, next.refresh_token!, insecure)),
      400,
      'invalid_grant',
    );
    await expectApiRejected(env, next.access_token);
  });

  it('a requested scope is honoured and reported', async () => {
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant(ALICE, PW, 'orders:read'));
    expect(tokens.scope).toBe('orders:read');
    const { payload } = await jwtVerify(tokens.access_token, remoteJwks, { issuer: as.issuer, audience: 'api', typ: 'at+jwt' });
    expect(payload.scope).toBe('orders:read');
  });

  it('wrong password and unknown user are invalid_grant (RFC 6749 §5.2)', async () => {
    await expectOAuthError(oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant(ALICE, 'wrong')), 400, 'invalid_grant');
    await expectOAuthError(oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant('nobody@example.com', 'wrong')), 400, 'invalid_grant');
  });

  it('unsupported grants are unsupported_grant_type', async () => {
    const res = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, {}, insecure);
    await expectOAuthError(oauth.processClientCredentialsResponse(as, client, res), 400, 'unsupported_grant_type');
  });
});

describe('RFC 7009 revocation', () => {
  it('revoking the refresh token ends the login session', async () => {
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant(ALICE, PW));
    await expectApiOk(env, tokens.access_token);
    await expect(
      oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, tokens.refresh_token!, insecure)),
    ).resolves.toBeUndefined();
    await expectOAuthError(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, insecure)),
      400,
      'invalid_grant',
    );
    await expectApiRejected(env, tokens.access_token);
  });

  it('revoking the access token ends that token; junk is accepted without effect', async () => {
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant(ALICE, PW));
    const other = await oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant(ALICE, PW));
    await expect(oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, 'junk', insecure))).resolves.toBeUndefined();
    await expect(
      oauth.processRevocationResponse(
        await oauth.revocationRequest(as, client, clientAuth, tokens.access_token, { ...insecure, additionalParameters: { token_type_hint: 'access_token' } }),
      ),
    ).resolves.toBeUndefined();
    await expectApiRejected(env, tokens.access_token);
    await expectApiOk(env, other.access_token);
  });
});
