/**
 * Signing-key rotation through reloads (SPEC §2 issuer.signingKeys: the
 * first key signs, the rest verify only).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../helpers/gateway.js';
import { makeKey, writeJwkFile, type TestKey } from '../helpers/keys.js';
import {
  expectApiOk,
  expectApiRejected,
  expectRefreshRejected,
  expectTokens,
  hashed,
  headerOf,
  login,
  refresh,
  startIssuer,
  type IssuerEnv,
  type TokenResponse,
} from '../helpers/issuer.js';
import { request } from '../helpers/http.js';

const ALICE = 'alice@example.com';
const PW = 'alice-password';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

let env: IssuerEnv;
let keyA: TestKey;
let keyB: TestKey;
let fileA: string;
let fileB: string;

/** the running config with other signing keys */
const withKeys = (files: string[]) => {
  const issuer = env.raw.issuer as Record<string, unknown>;
  return configFrom({ ...env.raw, issuer: { ...issuer, signingKeys: files.map((file) => ({ file })) } });
};

const jwks = async (): Promise<Array<Record<string, unknown>>> => {
  const r = await request(env.g.url, '/.well-known/jwks.json');
  expect(r.status).toBe(200);
  return (JSON.parse(r.text) as { keys: Array<Record<string, unknown>> }).keys;
};

beforeAll(async () => {
  [keyA, keyB] = await Promise.all([makeKey('ES256', 'key-a'), makeKey('RS256', 'key-b')]);
  env = await startIssuer({ key: keyA, users: [{ username: ALICE, password: await hashed(PW), roles: ['admin'], scope: 'orders:read', email: ALICE }] });
  fileA = (env.raw.issuer as { signingKeys: Array<{ file: string }> }).signingKeys[0]!.file;
  fileB = writeJwkFile(keyB.privateJwk, env.dir);
});

afterAll(async () => {
  await env?.stop();
});

describe('signing key rotation', () => {
  it('[A] -> [B, A] -> [B]: new tokens switch to B, A-signed tokens verify until A is removed', async () => {
    // --- [A]
    const oldSession = await login(env.g.url, ALICE, PW);
    const spareSession = await login(env.g.url, ALICE, PW); // a refresh token never used before A is dropped
    expect(headerOf(oldSession.access_token).kid).toBe('key-a');
    expect(headerOf(oldSession.refresh_token).kid).toBe('key-a');
    expect((await jwks()).map((k) => k.kid)).toEqual(['key-a']);

    // --- [B, A]
    expect(await env.g.gw.reload(withKeys([fileB, fileA]))).toBe(true);
    const newSession = await login(env.g.url, ALICE, PW);
    expect(headerOf(newSession.access_token)).toMatchObject({ kid: 'key-b', alg: 'RS256', typ: 'at+jwt' });
    expect(headerOf(newSession.refresh_token)).toMatchObject({ kid: 'key-b', alg: 'RS256', typ: 'refresh+jwt' });
    await expectApiOk(env, newSession.access_token);
    await expectApiOk(env, oldSession.access_token);
    const published = await jwks();
    expect(published.map((k) => k.kid).sort()).toEqual(['key-a', 'key-b']);
    for (const k of published) {
      for (const member of PRIVATE_MEMBERS) expect(k, `${String(k.kid)}.${member}`).not.toHaveProperty(member);
      expect(k.use).toBe('sig');
    }
    expect(published.find((k) => k.kid === 'key-b')).toMatchObject({ kty: 'RSA', n: keyB.publicJwk.n, e: keyB.publicJwk.e, alg: 'RS256' });
    expect(published.find((k) => k.kid === 'key-a')).toMatchObject({ kty: 'EC', x: keyA.publicJwk.x, y: keyA.publicJwk.y, alg: 'ES256' });
    // an A-signed refresh token still rotates, into B-signed tokens
    const rotated: TokenResponse = expectTokens(await refresh(env.g.url, oldSession.refresh_token));
    expect(headerOf(rotated.access_token).kid).toBe('key-b');
    expect(headerOf(rotated.refresh_token).kid).toBe('key-b');
    await expectApiOk(env, rotated.access_token);

    // --- [B]
    expect(await env.g.gw.reload(withKeys([fileB]))).toBe(true);
    expect((await jwks()).map((k) => k.kid)).toEqual(['key-b']);
    await expectApiRejected(env, oldSession.access_token);
    await expectApiRejected(env, spareSession.access_token);
    await expectRefreshRejected(env.g.url, spareSession.refresh_token);
    await expectApiOk(env, newSession.access_token);
    await expectApiOk(env, rotated.access_token);
    expectTokens(await refresh(env.g.url, newSession.refresh_token));
  });

  it('a reload with an unreadable key keeps the running keys', async () => {
    const before = await login(env.g.url, ALICE, PW);
    expect(await env.g.gw.reload(withKeys([join(env.dir, 'missing.jwk.json')]))).toBe(false);
    await expectApiOk(env, before.access_token);
    const after = await login(env.g.url, ALICE, PW);
    expect(headerOf(after.access_token).kid).toBe(headerOf(before.access_token).kid);
    await expectApiOk(env, after.access_token);
  });
});
