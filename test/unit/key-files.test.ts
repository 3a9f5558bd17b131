/**
 * loadKeyFile (SPEC §2 signingKeys / trustedIssuers keys): JWK and PEM in,
 * a public JWK with kid and alg out. Key material that could weaken
 * verification is refused at start-up with the file named (SECURITY.md F13).
 * The same through a gateway: test/tokens/keys.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { KeyFileError, loadKeyFile } from '../../src/tokens/keys.js';
import { makeKey, pemOf, tempDir, writeTempFile } from '../helpers/keys.js';

const dir = tempDir();
const jwkFile = (jwk: unknown) => writeTempFile(JSON.stringify(jwk), 'jwk.json');
/** RSA generation is the slow part of this file: one 2048-bit pair serves every test that only needs "an RSA key" */
let rsaPair: ReturnType<typeof generateKeyPairSync> | null = null;
const rsa2048 = () => (rsaPair ??= generateKeyPairSync('rsa', { modulusLength: 2048 }));
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

async function refused(path: string, why: RegExp, opts: { requirePrivate?: boolean } = {}): Promise<void> {
  const err: unknown = await loadKeyFile(path, opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeyFileError);
  expect((err as Error).message.startsWith(`${path}: `)).toBe(true);
  expect((err as Error).message).toMatch(why);
}

describe('formats', () => {
  it('private JWK: signing and public halves, kid and alg from the file, nothing private published', async () => {
    const k = await makeKey('ES256', 'file-kid');
    const loaded = await loadKeyFile(jwkFile(k.privateJwk), { requirePrivate: true });
    expect(loaded.kid).toBe('file-kid');
    expect(loaded.alg).toBe('ES256');
    expect(loaded.privateKey?.type).toBe('private');
    expect(loaded.publicKey.type).toBe('public');
    expect(loaded.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', x: k.publicJwk.x, y: k.publicJwk.y, kid: 'file-kid', alg: 'ES256', use: 'sig' });
    for (const m of PRIVATE_MEMBERS) expect(loaded.publicJwk).not.toHaveProperty(m);
  });
  it('public JWK: verification only', async () => {
    const k = await makeKey('RS256', 'rsa-pub');
    const loaded = await loadKeyFile(jwkFile(k.publicJwk));
    expect(loaded.privateKey).toBeNull();
    expect(loaded.kid).toBe('rsa-pub');
    expect(loaded.alg).toBe('RS256');
    expect(loaded.publicJwk.n).toBe(k.publicJwk.n);
  });
  it.each([
    ['EC P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ES256'],
    ['EC P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'ES384'],
    ['EC P-521', () => generateKeyPairSync('ec', { namedCurve: 'P-521' }), 'ES512'],
    ['Ed25519', () => generateKeyPairSync('ed25519'), 'EdDSA'],
    ['RSA 2048', rsa2048, 'RS256'],
  ])('PKCS8 PEM %s: private, alg %s by default', async (_what, gen, alg) => {
    const { privateKey, publicKey } = gen();
    const loaded = await loadKeyFile(writeTempFile(pemOf(privateKey, 'pkcs8'), 'pem'), { requirePrivate: true });
    expect(loaded.alg).toBe(alg);
    expect(loaded.privateKey).not.toBeNull();
    expect(loaded.publicJwk).toMatchObject(publicKey.export({ format: 'jwk' }) as object);
    for (const m of PRIVATE_MEMBERS) expect(loaded.publicJwk).not.toHaveProperty(m);
  });
  it('SPKI PEM: public only; refused where a signing key is required', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const path = writeTempFile(pemOf(publicKey, 'spki'), 'pem');
    const loaded = await loadKeyFile(path);
    expect(loaded.privateKey).toBeNull();
    expect(loaded.alg).toBe('ES256');
    await refused(path, /must be a private key/, { requirePrivate: true });
  });
  it('PKCS1 and SEC1 PEM are read as well', async () => {
    const rsa = rsa2048();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect((await loadKeyFile(writeTempFile(pemOf(rsa.privateKey, 'pkcs1'), 'pem'))).alg).toBe('RS256');
    expect((await loadKeyFile(writeTempFile(pemOf(rsa.publicKey, 'pkcs1'), 'pem'))).privateKey).toBeNull();
    expect((await loadKeyFile(writeTempFile(pemOf(ec.privateKey, 'sec1'), 'pem'))).alg).toBe('ES256');
  });
  it('PEM with surrounding whitespace is accepted', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect((await loadKeyFile(writeTempFile(`\n\n  ${pemOf(privateKey, 'pkcs8')}\n\n`, 'pem'))).alg).toBe('ES256');
  });
});

describe('kid', () => {
  it('absent: the RFC 7638 thumbprint (the RFC §3.1 example key)', async () => {
    // RFC 7638 §3.1: this key's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs
    const rfcKey = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
    };
    const loaded = await loadKeyFile(jwkFile(rfcKey));
    expect(loaded.kid).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    expect(loaded.publicJwk.kid).toBe(loaded.kid);
  });
  it('absent in a PEM file: the thumbprint of the public key, the same for the private and the public file', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const expected = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK);
    expect((await loadKeyFile(writeTempFile(pemOf(privateKey, 'pkcs8'), 'pem'))).kid).toBe(expected);
    expect((await loadKeyFile(writeTempFile(pemOf(publicKey, 'spki'), 'pem'))).kid).toBe(expected);
  });
});

describe('refused', () => {
  it('RSA shorter than 2048 bits (JWK, PKCS8, SPKI)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await refused(jwkFile(publicKey.export({ format: 'jwk' })), /at least 2048 bits/);
    await refused(writeTempFile(pemOf(privateKey, 'pkcs8'), 'pem'), /at least 2048 bits/);
    await refused(writeTempFile(pemOf(publicKey, 'spki'), 'pem'), /at least 2048 bits/);
    await refused(jwkFile({ ...(publicKey.export({ format: 'jwk' }) as object), alg: 'RS256' }), /at least 2048 bits/);
  });
  it('symmetric (oct) keys, with or without alg', async () => {
    await refused(jwkFile({ kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url'), alg: 'HS256' }), /symmetric/);
    await refused(jwkFile({ kty: 'oct', k: Buffer.alloc(64, 7).toString('base64url') }), /symmetric/);
  });
  it.each([
    ['RS256 on an EC key', 'ec', 'RS256'],
    ['ES384 on a P-256 key', 'ec', 'ES384'],
    ['EdDSA on an EC key', 'ec', 'EdDSA'],
    ['ES256 on an RSA key', 'rsa', 'ES256'],
    ['HS256 on an RSA key', 'rsa', 'HS256'],
    ['none on an RSA key', 'rsa', 'none'],
    ['ES256 on an Ed25519 key', 'ed25519', 'ES256'],
  ] as const)('alg that does not fit the key: %s', async (_what, type, alg) => {
    const kp = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : type === 'rsa' ? rsa2048() : generateKeyPairSync('ed25519');
    await refused(jwkFile({ ...(kp.privateKey.export({ format: 'jwk' }) as object), alg }), /does not fit/);
    await refused(jwkFile({ ...(kp.publicKey.export({ format: 'jwk' }) as object), alg }), /does not fit/);
  });
  it('unsupported curves (secp256k1) and key types (X25519)', async () => {
    await refused(writeTempFile(pemOf(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, 'pkcs8'), 'pem'), /unsupported EC curve/);
    await refused(writeTempFile(pemOf(generateKeyPairSync('x25519').publicKey, 'spki'), 'pem'), /unsupported key type/);
  });
  it('unreadable, empty, garbage, truncated and encrypted files', async () => {
    await refused(join(dir, 'missing.jwk.json'), /cannot read key file \(ENOENT\)/);
    await refused(writeTempFile(''), /not a JWK/);
    await refused(writeTempFile('hello'), /not a JWK/);
    await refused(writeTempFile('{"kty":"EC"'), /unreadable key/);
    await refused(writeTempFile('{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}'), /unreadable key/);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const full = pemOf(privateKey, 'pkcs8');
    await refused(writeTempFile(full.slice(0, full.length >> 1)), /unreadable key|not a JWK/);
    const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
    await refused(writeTempFile(encrypted, 'pem'), /unreadable key/);
  });
});
