/**
 * Issue "Security round 2", item 5: static public keys. A PEM file carries no
 * kid, but every real IdP's tokens do (Keycloak, Auth0, Entra): a key without
 * a kid of its own matches any kid (as Envoy does), a key that has one
 * matches only it, and keys stay scoped to their issuer and algorithm.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KC = 'https://keycloak.test/realms/main';
const OTHER = 'https://other-idp.test';
const JWKISS = 'https://jwk-file.test';
const NAMED = 'https://named-kid.test';

const dir = tempDir();
const pemFile = (name: string, key: KeyObject) => {
  const path = join(dir, `${name}.pem`);
  writeFileSync(path, key.export({ type: 'spki', format: 'pem' }) as string);
  return path;
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaNext = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherIdp = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwkKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const namedPem = generateKeyPairSync('ec', { namedCurve: 'P-256' });

let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  const jwkPath = join(dir, 'idp.jwk.json');
  writeFileSync(jwkPath, JSON.stringify({ ...(await exportJWK(jwkKey.publicKey)), kid: 'named-kid', alg: 'ES256' }));
  g = await startGateway({
    trustedIssuers: [
      // Keycloak realm keys pasted as PEM: the current and the next one (a static rotation)
      { iss: KC, keys: [{ file: pemFile('kc', rsa.publicKey) }, { file: pemFile('kc-next', rsaNext.publicKey) }], audience: 'api', algorithms: ['RS256'] },
      { iss: OTHER, keys: [{ file: pemFile('other', otherIdp.publicKey) }], audience: 'api', algorithms: ['RS256', 'ES256'] },
      { iss: JWKISS, keys: [{ file: jwkPath }], audience: 'api', algorithms: ['ES256'] },
      { iss: NAMED, keys: [{ file: pemFile('named', namedPem.publicKey), kid: 'realm-key-2026' }], audience: 'api', algorithms: ['ES256'] },
    ],
    routes: [{ name: 'api', match: { path: '/api/**' }, upstream: up.url }],
  });
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

const claims = (iss: string, extra: JWTPayload = {}): JWTPayload => ({
  iss,
  aud: 'api',
  sub: 'kc-user',
  exp: Math.floor(Date.now() / 1000) + 300,
  iat: Math.floor(Date.now() / 1000),
  ...extra,
});
const sign = (key: KeyObject, alg: string, header: Record<string, unknown>, payload: JWTPayload) =>
  new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT', ...header }).sign(key);

async function call(token: string): Promise<{ status: number; body: Record<string, unknown>; reached: boolean; reason: unknown }> {
  const before = up.seen.length;
  const r = await fetch(`${g.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await r.json()) as Record<string, unknown>;
  const id = r.headers.get('x-request-id');
  const reason = g.logs.lines.find((l) => l.msg === 'request' && l.reqId === id)?.reason;
  return { status: r.status, body, reached: up.seen.length > before, reason };
}

async function expectRefused(token: string, reason?: RegExp): Promise<void> {
  const r = await call(token);
  expect(r.status).toBe(401);
  expect(r.body.error).toBe('invalid_token');
  expect(r.reached).toBe(false);
  if (reason) expect(String(r.reason)).toMatch(reason);
}

describe('static public keys and kid', () => {
  it('K01 a PEM-configured issuer accepts its tokens whatever kid they carry (Keycloak, Auth0, Entra style)', async () => {
    for (const kid of ['Kx2fG0sW7QvF4kQ', 'abc', 'a'.repeat(200)]) {
      const r = await call(await sign(rsa.privateKey, 'RS256', { kid }, claims(KC)));
      expect(r.status).toBe(200);
      expect(r.reached).toBe(true);
      expect(up.seen.at(-1)?.headers['x-user-id']).toBe('kc-user');
    }
    // and without a kid at all
    expect((await call(await sign(rsa.privateKey, 'RS256', {}, claims(KC)))).status).toBe(200);
  });

  it('K02 several kid-less keys of one issuer (a static rotation): a token signed by either is accepted, one signed by neither is not', async () => {
    expect((await call(await sign(rsaNext.privateKey, 'RS256', { kid: 'next' }, claims(KC)))).status).toBe(200);
    expect((await call(await sign(rsa.privateKey, 'RS256', { kid: 'current' }, claims(KC)))).status).toBe(200);
    await expectRefused(await sign(attacker.privateKey, 'RS256', { kid: 'current' }, claims(KC)), /bad_signature|verify_error|ambiguous/);
  });

  it("K03 key confusion stays impossible: another key, another issuer's key, another algorithm, HMAC with the PEM as secret", async () => {
    // signed by an attacker with any kid
    await expectRefused(await sign(attacker.privateKey, 'RS256', { kid: 'whatever' }, claims(KC)));
    // another trusted issuer's key, presented with this issuer's iss (keys are scoped to their issuer)
    await expectRefused(await sign(otherIdp.privateKey, 'RS256', { kid: 'x' }, claims(KC)));
    // this issuer's key, with the other issuer's iss
    await expectRefused(await sign(rsa.privateKey, 'RS256', { kid: 'x' }, claims(OTHER)));
    // an algorithm the issuer does not allow, and one that does not fit the key type (ES256 with an RSA key)
    await expectRefused(await sign(rsa.privateKey, 'PS256', { kid: 'x' }, claims(KC)), /alg_not_allowed/);
    await expectRefused(await sign(ec.privateKey, 'ES256', { kid: 'x' }, claims(OTHER)));
    // HS256 with the public key's PEM bytes as the secret
    const secret = new TextEncoder().encode(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    await expectRefused(await new SignJWT(claims(KC)).setProtectedHeader({ alg: 'HS256', kid: 'x' }).sign(secret), /alg_not_allowed/);
  });

  it('K04 a key whose file names a kid matches only that kid', async () => {
    expect((await call(await sign(jwkKey.privateKey, 'ES256', { kid: 'named-kid' }, claims(JWKISS)))).status).toBe(200);
    await expectRefused(await sign(jwkKey.privateKey, 'ES256', { kid: 'another-kid' }, claims(JWKISS)), /unknown_kid/);
  });

  it('K05 a key entry may name its kid in the config (`keys: [{file, kid}]`): a PEM key then refuses tokens with another kid', async () => {
    expect((await call(await sign(namedPem.privateKey, 'ES256', { kid: 'realm-key-2026' }, claims(NAMED)))).status).toBe(200);
    await expectRefused(await sign(namedPem.privateKey, 'ES256', { kid: 'realm-key-2025' }, claims(NAMED)), /unknown_kid/);
  });
});
