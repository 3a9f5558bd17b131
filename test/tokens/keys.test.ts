/**
 * Key files through a running gateway (SPEC §2): a weak trusted key stops
 * start-up naming the file; a PEM signing key without kid signs under its
 * thumbprint. loadKeyFile itself: test/unit/key-files.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectInvalidToken } from '../helpers/expect.js';
import { forge, validClaims } from '../helpers/forge.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { probe } from '../helpers/http.js';
import { pemOf, writeTempFile } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

describe('through the gateway', () => {
  let up: TestUpstream;
  let gw: TestGateway | null = null;
  beforeAll(async () => {
    up = await startUpstream();
  });
  afterAll(async () => {
    await gw?.stop();
    await up.close();
  });
  it('start-up refuses a 1024-bit RSA trusted key, naming the file', async () => {
    const path = writeTempFile(pemOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'spki'), 'pem');
    const started = startGateway({
      trustedIssuers: [{ iss: 'https://weak.test', keys: [{ file: path }], audience: 'api' }],
      routes: [{ match: { path: '/api/**' }, upstream: up.url }],
    });
    await expect(started).rejects.toThrow(path);
  });
  it('a PKCS8 PEM signing key without kid verifies tokens whose kid is its thumbprint, and only those', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK);
    gw = await startGateway({
      issuer: { iss: 'https://pem.test', audience: 'api', signingKeys: [{ file: writeTempFile(pemOf(privateKey, 'pkcs8'), 'pem') }] },
      routes: [{ match: { path: '/api/**' }, upstream: up.url }],
    });
    expectAccepted(await probe(gw.url, up, forge(privateKey, { alg: 'ES256', kid, typ: 'at+jwt' }, validClaims('https://pem.test'))));
    expectInvalidToken(await probe(gw.url, up, forge(privateKey, { alg: 'ES256', kid: 'other', typ: 'at+jwt' }, validClaims('https://pem.test'))));
  });
});
