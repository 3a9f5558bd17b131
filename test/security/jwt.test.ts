/**
 * SECURITY.md §1 (J01-J38), one test per catalogue id. Every test first shows
 * that the unmodified request succeeds, then changes only the attacked part
 * and checks the full refusal: status, JSON body (error, error_description,
 * request_id), the RFC 6750 challenge, the upstream (and the canary / JWKS
 * listener where something could be fetched) not called, no identity headers,
 * and the logged reason without the token. Real gateway, real upstream, real
 * loopback JWKS servers, really-signed tokens.
 */
import { createHmac, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { B64TOKEN, expectError, expectInsufficientScope, expectInvalidToken, expectNotLogged } from '../helpers/expect.js';
import {
  P256_N,
  forge,
  privateKeyObject,
  publicKeyObject,
  seg,
  signSegments,
  signatureFor,
  trailingBitSibling,
  validClaims,
  validHeader,
  withHeader,
  withPayload,
} from '../helpers/forge.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { postForm, postJson, probe, request, send as sendRaw, sleep, type Answer } from '../helpers/http.js';
import { expectTokens, hashed, login, usersFile } from '../helpers/issuer.js';
import { startJwks, type JwksServer } from '../helpers/jwks.js';
import { makeKey, parts, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ISS_SELF = 'https://gatehouse.test';
const ISS_RSA = 'https://idp-rsa.test/realms/main';
const ISS_EC = 'https://idp-ec.test';
const ISS_A = 'https://idp-a.test';
const ISS_B = 'https://idp-b.test';
const ISS_FLOOD = 'https://idp-flood.test';
const ISS_HOSTILE = 'https://idp-hostile.test';
const COOLDOWN_MS = 1000;
const IDENTITY = ['x-user-id', 'x-user-roles', 'x-user-scopes'];
const PASSWORD = 'correct horse';

let selfKey: TestKey, rsaKey: TestKey, ecKey: TestKey, aKey: TestKey, bKey: TestKey, attacker: TestKey, p384: TestKey, floodKey: TestKey, hostileGood: TestKey;
let up: TestUpstream;
let g: TestGateway;
let tolerant: TestGateway;
/** serves the attacker's key set; must never be asked for anything */
let canary: JwksServer;
let floodJwks: JwksServer;
let hostileJwks: JwksServer;
let hostileKeys: unknown[] = [];
const hostileSigners: Record<string, { key: KeyObject; alg: string }> = {};

/** each key file in its own directory: two issuers publish the same kid */
const ownDir = () => mkdtempSync(join(tmpdir(), 'gatehouse-sec-jwt-'));

beforeAll(async () => {
  [selfKey, rsaKey, ecKey, aKey, bKey, attacker, p384, floodKey, hostileGood] = await Promise.all([
    makeKey('ES256', 'self-1'),
    makeKey('RS256', 'rsa-1'),
    makeKey('ES256', 'ec-1'),
    makeKey('ES256', 'shared'),
    makeKey('ES256', 'shared'),
    makeKey('ES256', 'attacker-1'),
    makeKey('ES384', 'p384-1'),
    makeKey('ES256', 'flood-good'),
    makeKey('ES256', 'hostile-good'),
  ]);
  up = await startUpstream();
  canary = await startJwks(() => ({ keys: [attacker.publicJwk] }));

  // J37: a key set full of keys a verifier must not use, next to one good key
  const jwkOf = (k: KeyObject): JWK => k.export({ format: 'jwk' }) as JWK;
  const enc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const dupA = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dupB = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  hostileSigners.enc = { key: enc.privateKey, alg: 'ES256' };
  hostileSigners.rsa1024 = { key: rsa1024.privateKey, alg: 'RS256' };
  hostileSigners.dup = { key: dupA.privateKey, alg: 'ES256' };
  hostileSigners.k1 = { key: k1.privateKey, alg: 'ES256' };
  hostileSigners.priv = { key: priv.privateKey, alg: 'ES256' };
  hostileKeys = [
    { kty: 'oct', kid: 'oct', alg: 'HS256', k: randomBytes(32).toString('base64url') },
    { ...jwkOf(enc.publicKey), kid: 'enc', use: 'enc' },
    { ...jwkOf(rsa1024.publicKey), kid: 'rsa1024', alg: 'RS256' },
    { ...jwkOf(dupA.publicKey), kid: 'dup' },
    { ...jwkOf(dupB.publicKey), kid: 'dup' },
    { ...jwkOf(k1.publicKey), kid: 'k1' },
    { ...jwkOf(priv.privateKey), kid: 'priv' },
    { kty: 'OKP', crv: 'X25519', kid: 'x25519', x: randomBytes(32).toString('base64url') },
    { kty: 'EC', crv: 'P-256', kid: 'broken', x: 'AAAA', y: 'AAAA' },
    'not-a-key',
    null,
    42,
    [],
    hostileGood.publicJwk,
  ];
  floodJwks = await startJwks(() => ({ keys: [floodKey.publicJwk] }));
  hostileJwks = await startJwks(() => ({ keys: hostileKeys }));

  const users = usersFile([{ username: 'alice', password: await hashed(PASSWORD), roles: ['user'], scope: 'read' }], ownDir());
  const staticIssuer = (iss: string, key: TestKey, algorithms: string[]) => ({
    iss,
    keys: [{ file: writeJwkFile(key.publicJwk, ownDir()) }],
    audience: 'api',
    algorithms,
  });
  const routes = [
    { name: 'api', match: { path: '/api/**' }, upstream: up.url, auth: 'required' },
    { name: 'admin-area', match: { path: '/admin-area/**' }, upstream: up.url, auth: { roles: ['admin'] } },
    { name: 'scoped', match: { path: '/scoped/**' }, upstream: up.url, auth: { scopes: ['admin'] } },
  ];
  g = await startGateway({
    log: { level: 'info' },
    issuer: { iss: ISS_SELF, audience: 'api', signingKeys: [{ file: writeJwkFile(selfKey.privateJwk, ownDir()) }], users: { file: users } },
    trustedIssuers: [
      // more algorithms than the keys need, so alg/key-type mismatches are caught by key matching, not only by the allow-list
      staticIssuer(ISS_RSA, rsaKey, ['RS256', 'PS256', 'ES256']),
      staticIssuer(ISS_EC, ecKey, ['ES256', 'ES384', 'RS256']),
      staticIssuer(ISS_A, aKey, ['ES256']),
      staticIssuer(ISS_B, bKey, ['ES256']),
      { iss: ISS_FLOOD, jwksUri: `${floodJwks.url}/jwks`, audience: 'api', algorithms: ['ES256'], jwksCooldown: `${COOLDOWN_MS}ms` },
      { iss: ISS_HOSTILE, jwksUri: `${hostileJwks.url}/jwks`, audience: 'api', algorithms: ['ES256', 'RS256'] },
    ],
    verify: { algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'], clockTolerance: 0 },
    identity: { headers: { 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope' } },
    routes,
  });
  tolerant = await startGateway({
    trustedIssuers: [staticIssuer(ISS_EC, ecKey, ['ES256'])],
    verify: { clockTolerance: '30s' },
    identity: { headers: { 'X-User-Id': 'sub' } },
    routes,
  });
  // both remote key sets loaded
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${g.adminUrl}/readyz`)).status === 200) break;
    await sleep(20);
  }
});

afterAll(async () => {
  await g?.stop();
  await tolerant?.stop();
  await up?.close();
  for (const s of [canary, floodJwks, hostileJwks]) await s?.stop();
});

// ---------------------------------------------------------------- helpers

const send = (token: string, prefix = '/api', gw: TestGateway = g): Promise<Answer> => probe(gw.url, up, token, { prefix });
const logOf = (a: Answer, gw: TestGateway = g) => gw.logs.lines.find((l) => l.msg === 'request' && l.reqId === a.headers.get('x-request-id'));
const validEc = (claims: Record<string, unknown> = {}) => signToken(ecKey, claims, { iss: ISS_EC });
const validSelf = (claims: Record<string, unknown> = {}) => signToken(selfKey, claims, { iss: ISS_SELF });
const revoke = (body: Record<string, unknown>) => postJson(g.adminUrl, '/admin/revoke', body);

/** The answer's log line exists, carries `reason`, and the log never holds the token. */
function expectLogged(a: Answer, token: string, reason: string | RegExp | null, gw: TestGateway = g): void {
  const line = logOf(a, gw);
  expect(line, 'request log line').toBeDefined();
  expect(line?.status).toBe(a.status);
  if (reason !== null) expect(String(line?.reason), token.slice(0, 60)).toMatch(typeof reason === 'string' ? new RegExp(`^${reason}$`) : reason);
  // (a one-letter junk "token" such as "a" is in any log text; it is no credential)
  if (token.length >= 8) expectNotLogged(gw.logs, token);
  for (const s of token.split('.')) if (s.length >= 16) expect(gw.logs.text().includes(s)).toBe(false);
}

/** SECURITY.md "401" in full: the shared 401 assertion, no identity headers, nothing echoed, the logged reason. */
function expect401(a: Answer, token: string, reason: string | RegExp | null = null, gw: TestGateway = g): void {
  expectInvalidToken(a, ['alice', 'admin', 'mallory']);
  for (const h of IDENTITY) expect(a.headers.get(h)).toBeNull();
  expectLogged(a, token, reason, gw);
}

/** 400 invalid_request: the Authorization header cannot carry a b64token at all (README "Tokens"). */
function expect400(a: Answer, token: string): void {
  expectError(a, 400, 'invalid_request');
  expect(a.reached).toBe(false);
  expectLogged(a, token, null);
}

/** 401, or 400 when the value is not even a b64token. */
function expectRefused(a: Answer, token: string, reason: string | RegExp | null = null): void {
  if (B64TOKEN.test(token)) expect401(a, token, reason);
  else expect400(a, token);
}

const refused = async (token: string, reason: string | RegExp | null = null, prefix = '/api') => expectRefused(await send(token, prefix), token, reason);

/** 200 through to the upstream, which received the identity headers. */
function expectOk(a: Answer, sub = 'alice'): void {
  expect(a.status, a.text).toBe(200);
  expect(a.reached).toBe(true);
  expect(up.seen.at(-1)?.headers['x-user-id']).toBe(sub);
}

const now = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------- tests

describe('SECURITY.md §1 JWT verification', () => {
  it('J01 alg none/None/NONE/nOnE with empty, kept or no signature, and a wrong-case alg -> 401', async () => {
    const base = await validEc({ roles: ['admin'] });
    expectOk(await send(base));
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const [h, p, s] = parts(withHeader(base, (x) => (x.alg = alg)));
      await refused(`${h}.${p}.`, 'malformed');
      await refused(`${h}.${p}.${s}`, 'alg_not_allowed');
      await refused(`${h}.${p}`, 'malformed');
      const [sh, sp] = parts(withHeader(await validSelf(), (x) => (x.alg = alg)));
      await refused(`${sh}.${sp}.`, 'malformed');
    }
    // case-sensitive allow-list: es256 is not ES256 even with a genuine signature
    await refused(forge(ecKey, validHeader(ecKey, { alg: 'es256' }), validClaims(ISS_EC), 'ES256'), 'alg_not_allowed');
  });

  it('J02 signature stripped, truncated, one char flipped, header/payload edited -> 401', async () => {
    const base = await validEc({ roles: ['user'] });
    expectOk(await send(base));
    const [h, p, s] = parts(base);
    await refused(`${h}.${p}.`, 'malformed');
    // a cut that leaves unused trailing bits is caught as non-canonical base64url, any other as a bad signature
    await refused(`${h}.${p}.${s.slice(0, -4)}`, /^(bad_signature|bad_signature_encoding)$/);
    await refused(`${h}.${p}.${s.slice(0, s.length >> 1)}`, /^(bad_signature|bad_signature_encoding)$/);
    await refused(`${h}.${p}.${s.slice(0, -1)}`);
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    await refused(`${h}.${p}.${flipped}`, 'bad_signature');
    await refused(
      withPayload(base, (c) => (c.roles = ['admin'])),
      'bad_signature',
    );
    await refused(
      withPayload(base, (c) => (c.sub = 'root')),
      'bad_signature',
    );
    await refused(
      withPayload(base, (c) => (c.exp = (c.exp as number) + 3600)),
      'bad_signature',
    );
    await refused(
      withHeader(base, (x) => (x.x = 1)),
      'bad_signature',
    );
    await refused(withHeader(base, (x) => (x.typ = 'JWT')));
    // the signature of another valid token of the same issuer, spliced in
    const [, , other] = parts(await validEc({ roles: ['admin'] }));
    await refused(`${h}.${p}.${other}`, 'bad_signature');
    // an RSA signature one bit off (Wycheproof-style)
    const rsa = await signToken(rsaKey, {}, { iss: ISS_RSA });
    expectOk(await send(rsa));
    const [rh, rp, rs] = parts(rsa);
    const bytes = Buffer.from(rs, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    await refused(`${rh}.${rp}.${bytes.toString('base64url')}`, 'bad_signature');
    // a signature by an unrelated RSA key under the trusted kid
    const { privateKey: unrelated } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await refused(forge(unrelated, validHeader(rsaKey), validClaims(ISS_RSA, { roles: ['admin'] })), 'bad_signature');
  });

  it('J03 shapes "", a.b, a.b.c.d, .p.s, h..s, .p. -> 401 (400 for an empty credential), never 500', async () => {
    const base = await validEc();
    expectOk(await send(base));
    const [h, p, s] = parts(base);
    // "Bearer " with nothing after it is a malformed Authorization header (README: 400)
    expect400(await send(''), '');
    for (const shape of [
      'a',
      'a.b',
      'a.b.c.d',
      'a.b.c.d.e.f',
      '.p.s',
      'h..s',
      '.p.',
      'h.p.',
      '..',
      '...',
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${h}.${p}.${s}`,
      `.${p}.${s}`,
      `${h}..${s}`,
      `.${p}.`,
    ]) {
      await refused(shape, 'malformed');
    }
  });

  it('J04 HS256/384/512 signed with the RSA public key bytes in every encoding -> 401', async () => {
    const good = await signToken(rsaKey, {}, { iss: ISS_RSA });
    expectOk(await send(good));
    const pub = publicKeyObject(rsaKey);
    const pem = pub.export({ type: 'spki', format: 'pem' }) as string;
    expect(pem.endsWith('\n')).toBe(true);
    const secrets: Array<string | Buffer> = [
      pem,
      pem.trimEnd(),
      `  \n${pem}`,
      pub.export({ type: 'pkcs1', format: 'pem' }) as string,
      pub.export({ type: 'spki', format: 'der' }),
      JSON.stringify(rsaKey.publicJwk),
      JSON.stringify({ kty: 'RSA', n: rsaKey.publicJwk.n, e: rsaKey.publicJwk.e }),
      JSON.stringify({ keys: [rsaKey.publicJwk] }),
      Buffer.from(rsaKey.publicJwk.n as string, 'base64url'),
    ];
    for (const [alg, hash] of [
      ['HS256', 'sha256'],
      ['HS384', 'sha384'],
      ['HS512', 'sha512'],
    ] as const) {
      for (const secret of secrets) {
        const hs = seg({ alg, kid: rsaKey.kid, typ: 'at+jwt' });
        const ps = seg(validClaims(ISS_RSA, { roles: ['admin'] }));
        await refused(`${hs}.${ps}.${createHmac(hash, secret).update(`${hs}.${ps}`).digest('base64url')}`, 'alg_not_allowed');
      }
    }
  });

  it('J05 HS256 with an empty key; a kid whose lookup returns nothing -> 401', async () => {
    expectOk(await send(await validEc()));
    for (const kid of [ecKey.kid, 'no-such-kid']) {
      const hs = seg({ alg: 'HS256', kid, typ: 'at+jwt' });
      const ps = seg(validClaims(ISS_EC));
      await refused(`${hs}.${ps}.${createHmac('sha256', '').update(`${hs}.${ps}`).digest('base64url')}`, 'alg_not_allowed');
    }
    await refused(forge(ecKey, validHeader(ecKey, { kid: 'no-such-kid' }), validClaims(ISS_EC)), 'unknown_kid');
  });

  it('J06 HS* (any secret length) is refused at start-up with a path-prefixed message', async () => {
    const valid = {
      trustedIssuers: [{ iss: ISS_EC, keys: [{ file: writeJwkFile(ecKey.publicJwk, ownDir()) }], audience: 'api', algorithms: ['ES256'] }],
      routes: [{ match: { path: '/api/**' }, upstream: up.url }],
    };
    expect(parseConfigText(stringify(valid)).problems).toEqual([]);
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      const perIssuer = parseConfigText(stringify({ ...valid, trustedIssuers: [{ ...valid.trustedIssuers[0], algorithms: [alg] }] }));
      expect(perIssuer.config).toBeNull();
      expect(perIssuer.problems).toContainEqual({
        path: 'trustedIssuers[0].algorithms[0]',
        message: expect.stringMatching(new RegExp(`^${alg} is not supported`)) as unknown,
      });
      const global = parseConfigText(stringify({ ...valid, verify: { algorithms: ['ES256', alg] } }));
      expect(global.config).toBeNull();
      expect(global.problems).toContainEqual({
        path: 'verify.algorithms[1]',
        message: expect.stringMatching(new RegExp(`^${alg} is not supported`)) as unknown,
      });
    }
    await expect(startGateway({ ...valid, trustedIssuers: [{ ...valid.trustedIssuers[0], algorithms: ['HS256'] }] })).rejects.toThrow(
      /trustedIssuers\[0\]\.algorithms\[0\]: HS256 is not supported/,
    );
  });

  it('J07 alg not matching the key type (RS256 on EC, ES on RSA, RS/PS swap, ES384 on P-256) -> 401', async () => {
    expectOk(await send(await validEc()));
    expectOk(await send(await signToken(rsaKey, {}, { iss: ISS_RSA })));
    expectOk(await send(forge(rsaKey, validHeader(rsaKey), validClaims(ISS_RSA))));
    // the issuers allow these algorithms, so the refusal must come from matching alg to the key, not from the allow-list
    const notAllowList = /^(?!alg_not_allowed$).+/;
    await refused(forge(rsaKey, validHeader(ecKey, { alg: 'RS256' }), validClaims(ISS_EC)), notAllowList);
    await refused(forge(ecKey, validHeader(rsaKey, { alg: 'ES256' }), validClaims(ISS_RSA)), notAllowList);
    await refused(forge(attacker, validHeader(rsaKey, { alg: 'ES256' }), validClaims(ISS_RSA)), notAllowList);
    await refused(forge(rsaKey, validHeader(rsaKey, { alg: 'PS256' }), validClaims(ISS_RSA)), notAllowList);
    await refused(forge(p384, validHeader(ecKey, { alg: 'ES384' }), validClaims(ISS_EC)), notAllowList);
    // EdDSA is allowed globally but not by this issuer
    const ed = await makeKey('EdDSA', ecKey.kid);
    await refused(forge(ed, validHeader(ecKey, { alg: 'EdDSA' }), validClaims(ISS_EC)), 'alg_not_allowed');
  });

  it('J08 embedded jwk header signed with the attacker key -> 401', async () => {
    expectOk(await send(await validEc()));
    await refused(forge(attacker, validHeader(attacker, { jwk: attacker.publicJwk }), validClaims(ISS_EC, { roles: ['admin'] })), 'embedded_key_header');
    await refused(forge(attacker, validHeader(ecKey, { jwk: attacker.publicJwk }), validClaims(ISS_EC)), 'embedded_key_header');
    await refused(forge(attacker, validHeader(attacker, { jwk: attacker.publicJwk }), validClaims(ISS_SELF)), 'embedded_key_header');
  });

  it('J09 jku/x5u at a loopback canary, x5c chains, unknown iss -> 401 and no outbound fetch', async () => {
    expectOk(await send(await validEc()));
    const claims = () => validClaims(ISS_EC, { roles: ['admin'] });
    const der = publicKeyObject(attacker).export({ type: 'spki', format: 'der' }).toString('base64');
    await refused(forge(attacker, validHeader(attacker, { jku: `${canary.url}/jwks.json` }), claims()), 'embedded_key_header');
    await refused(forge(ecKey, validHeader(ecKey, { jku: `${canary.url}/jwks.json` }), claims()), 'embedded_key_header');
    await refused(forge(attacker, validHeader(attacker, { x5u: `${canary.url}/cert.pem` }), claims()), 'embedded_key_header');
    await refused(forge(attacker, validHeader(attacker, { x5c: [der] }), claims()), 'embedded_key_header');
    await refused(forge(ecKey, validHeader(ecKey, { x5c: [der] }), validClaims(ISS_EC)), 'embedded_key_header');
    await refused(forge(attacker, validHeader(attacker), validClaims(canary.url)), 'unknown_issuer');
    await refused(forge(attacker, validHeader(attacker), validClaims(`${canary.url}/.well-known/openid-configuration`)), 'unknown_issuer');
    await sleep(100);
    expect(canary.paths).toEqual([]);
  });

  it('J10-J11 kid path traversal / injection strings -> 401, nothing read, no delay', async () => {
    expectOk(await send(await validEc()));
    const kids = [
      '../../../../../../dev/null',
      '/dev/null',
      '/dev/zero',
      '../../config/keys/dev-es256.jwk.json',
      '..\\..\\windows\\win.ini',
      '..\\..\\..\\windows\\win.ini',
      'file:///etc/passwd',
      "' OR '1'='1",
      'x; rm -rf /',
      '$(id)',
      '%2e%2e%2fetc%2fpasswd',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      'k\u0000id',
      '*',
      'a'.repeat(2000),
      'a'.repeat(4000),
    ];
    const started = performance.now();
    for (const kid of kids) {
      await refused(forge(attacker, validHeader(ecKey, { kid }), validClaims(ISS_EC)), 'unknown_kid');
      await refused(forge(ecKey, validHeader(ecKey, { kid }), validClaims(ISS_EC)), 'unknown_kid');
      const hs = seg({ alg: 'HS256', kid, typ: 'at+jwt' });
      const ps = seg(validClaims(ISS_EC));
      await refused(`${hs}.${ps}.${createHmac('sha256', '').update(`${hs}.${ps}`).digest('base64url')}`, 'alg_not_allowed');
    }
    expect(performance.now() - started).toBeLessThan(5000);
    // a kid of another JSON type
    for (const kid of [1, { a: 1 }, null, [ecKey.kid]]) await refused(forge(ecKey, validHeader(ecKey, { kid }), validClaims(ISS_EC)));
  });

  it('J12 every header field and claim replaced by null/true/0/"x"/{}/[] -> 401, never 500', async () => {
    expectOk(await send(await validSelf()));
    const junk: unknown[] = [null, true, 0, 'x', {}, []];
    for (const field of ['alg', 'kid', 'typ']) {
      for (const v of junk) await refused(forge(selfKey, validHeader(selfKey, { [field]: v }), validClaims(ISS_SELF), 'ES256'));
    }
    // values that are legitimately valid for a claim (sub "x", nbf 0) are not attacks
    const legit: Record<string, unknown[]> = { sub: ['x'], jti: ['x'], sid: ['x'], nbf: [0], iat: [0] };
    for (const claim of ['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'jti', 'sid']) {
      for (const v of junk) {
        if (legit[claim]?.includes(v)) continue;
        await refused(forge(selfKey, validHeader(selfKey), validClaims(ISS_SELF, { [claim]: v })));
      }
    }
  });

  it('J13 a flood of random kids -> all 401, at most one JWKS fetch per cooldown, genuine p99 no worse than under any other bad-token flood', async () => {
    const genuine = () => signToken(floodKey, {}, { iss: ISS_FLOOD });
    expectOk(await send(await genuine()));
    const p99 = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] as number;
    /** 4 rounds of 50 concurrent bad tokens, 5 genuine requests timed alongside each round */
    const floodWith = async (tokens: string[]): Promise<{ answers: Answer[]; genuineMs: number[] }> => {
      const answers: Answer[] = [];
      const genuineMs: number[] = [];
      const genuineTokens = await Promise.all(Array.from({ length: 20 }, genuine));
      for (let batch = 0; batch < 4; batch++) {
        const timed = async () => {
          for (const t of genuineTokens.slice(batch * 5, batch * 5 + 5)) {
            const a = await send(t);
            expect(a.status).toBe(200);
            genuineMs.push(a.ms);
          }
        };
        const [flood] = await Promise.all([Promise.all(tokens.slice(batch * 50, batch * 50 + 50).map((t) => send(t))), timed()]);
        answers.push(...flood);
      }
      return { answers, genuineMs };
    };
    // reference: the same load of bad tokens whose kid is known (signed by the attacker under the genuine kid)
    const knownKid = Array.from({ length: 200 }, () => forge(attacker, validHeader(floodKey), validClaims(ISS_FLOOD)));
    const reference = await floodWith(knownKid);
    reference.answers.forEach((a, i) => expect401(a, knownKid[i] as string, 'bad_signature'));
    await sleep(COOLDOWN_MS + 50); // the start-up fetch's cooldown is over: the flood may cause exactly one refetch
    const randomKid = Array.from({ length: 200 }, () =>
      forge(attacker, validHeader(attacker, { kid: `rand-${randomBytes(8).toString('hex')}` }), validClaims(ISS_FLOOD)),
    );
    const before = floodJwks.fetches;
    const started = performance.now();
    const flood = await floodWith(randomKid);
    const elapsed = performance.now() - started;
    flood.answers.forEach((a, i) => expect401(a, randomKid[i] as string, 'unknown_kid'));
    const extra = floodJwks.fetches - before;
    expect(extra).toBeLessThanOrEqual(1 + Math.floor(elapsed / COOLDOWN_MS));
    expect(p99(flood.genuineMs)).toBeLessThan(2 * p99(reference.genuineMs) + 100);
  });

  it('J14 crit with unknown or bogus members, b64:false -> 401', async () => {
    expectOk(await send(await validEc()));
    await refused(forge(ecKey, validHeader(ecKey, { crit: ['exp-x'], 'exp-x': true }), validClaims(ISS_EC)));
    for (const crit of [[], 'exp-x', [1], ['alg'], ['']]) await refused(forge(ecKey, validHeader(ecKey, { crit }), validClaims(ISS_EC)));
    await refused(signSegments(ecKey, 'ES256', seg(validHeader(ecKey, { b64: false, crit: ['b64'] })), seg(validClaims(ISS_EC))));
  });

  it('J15 refresh token as access token -> 401; access token as refresh token -> invalid_grant', async () => {
    const pair = await login(g.url, 'alice', PASSWORD);
    expectOk(await send(pair.access_token));
    await refused(pair.refresh_token, 'refresh_token_as_access');
    for (const prefix of ['/admin-area', '/scoped']) await refused(pair.refresh_token, 'refresh_token_as_access', prefix);
    // the bearer endpoints refuse it too
    expectError(await request(g.url, '/auth/profile', { token: pair.refresh_token }), 401, 'invalid_token');
    expectError(await request(g.url, '/auth/logout', { method: 'POST', token: pair.refresh_token }), 401, 'invalid_token');
    // hand-signed refresh-typed tokens of the self issuer and of a trusted issuer, in any spelling
    for (const typ of ['refresh+jwt', 'application/refresh+jwt', 'REFRESH+JWT', 'Refresh+JWT']) {
      await refused(await signToken(ecKey, {}, { iss: ISS_EC, typ }), 'refresh_token_as_access');
      await refused(await signToken(selfKey, {}, { iss: ISS_SELF, typ }), 'refresh_token_as_access');
    }
    // an access token is no refresh token, on either endpoint and in either spelling of the field
    expectError(await postJson(g.url, '/auth/refresh', { refresh_token: pair.access_token }), 401, 'invalid_grant');
    expectError(await postJson(g.url, '/auth/refresh', { refreshToken: pair.access_token }), 401, 'invalid_grant');
    expectError(
      await postForm(g.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: pair.access_token, client_id: 'cli' }),
      400,
      'invalid_grant',
    );
    expectNotLogged(g.logs, pair.access_token, pair.refresh_token);
    // none of it ended the session: the refusals were about the type
    expectOk(await send(pair.access_token));
    expectTokens(await postJson(g.url, '/auth/refresh', { refresh_token: pair.refresh_token }));
  });

  it('J16 self-issued tokens require typ at+jwt; ID tokens are not access tokens -> 401', async () => {
    expectOk(await send(await signToken(selfKey, {}, { iss: ISS_SELF, typ: 'at+jwt' })));
    expectOk(await send(await signToken(selfKey, {}, { iss: ISS_SELF, typ: 'application/at+jwt' })));
    await refused(await signToken(selfKey, {}, { iss: ISS_SELF, typ: null }), 'wrong_typ');
    await refused(await signToken(selfKey, {}, { iss: ISS_SELF, typ: 'JWT' }), 'wrong_typ');
    await refused(await signToken(selfKey, { nonce: 'n', auth_time: now(), azp: 'client' }, { iss: ISS_SELF, typ: 'JWT' }), 'wrong_typ');
  });

  it('J17-J19 exp = now, tolerance edges, iat in the future -> 401', async () => {
    expectOk(await send(await validEc()));
    const t = now();
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t - 60, exp: t })), 'expired');
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t - 60, exp: t - 1 })), 'expired');
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { exp: undefined })), /^(bad_exp|malformed|missing_exp)$/);
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { nbf: t + 5 })), 'not_yet_valid');
    expectOk(await send(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { nbf: now() }))));
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t + 10 * 365 * 86400, exp: t + 11 * 365 * 86400 })), 'iat_in_future');
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t + 120 })), 'iat_in_future');
    // with clockTolerance 30s: exactly at and one second past each edge, all inside one wall-clock second
    const cases: Array<[string, (s: number) => Record<string, unknown>, number]> = [
      ['exp = now - 29', (s) => ({ iat: s - 100, exp: s - 29 }), 200],
      ['exp = now - 30', (s) => ({ iat: s - 100, exp: s - 30 }), 401],
      ['nbf = now + 30', (s) => ({ nbf: s + 30 }), 200],
      ['nbf = now + 31', (s) => ({ nbf: s + 31 }), 401],
      ['iat = now + 30', (s) => ({ iat: s + 30 }), 200],
      ['iat = now + 31', (s) => ({ iat: s + 31 }), 401],
    ];
    for (let attempt = 0; attempt < 3; attempt++) {
      const ms = Date.now() % 1000;
      if (ms > 500) await sleep(1005 - ms);
      const s = now();
      const tokens = cases.map(([, claims]) => forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, claims(s))));
      const answers = await Promise.all(tokens.map((tok) => send(tok, '/api', tolerant)));
      if (now() !== s) continue;
      answers.forEach((a, i) => {
        const [name, , want] = cases[i]!;
        expect(a.status, name).toBe(want);
        if (want === 401) expect401(a, tokens[i] as string, /^(expired|not_yet_valid|iat_in_future)$/, tolerant);
        else expect(a.reached).toBe(true);
      });
      return;
    }
    throw new Error('could not run the edge cases within one second');
  });

  it('J20 time claims of the wrong type ("999", 1e309, -1, null, [1]) -> 401', async () => {
    const withRaw = (claim: string, value: string): string => {
      const claims = validClaims(ISS_EC);
      delete claims[claim];
      return `${JSON.stringify(claims).slice(0, -1)},"${claim}":${value}}`;
    };
    const future = now() + 300;
    const past = now() - 300;
    expectOk(await send(forge(ecKey, validHeader(ecKey), withRaw('exp', String(future)))));
    for (const v of [`"${future}"`, '"999"', '1e309', '-1', 'null', `[${future}]`, '{}', 'true', '-1e309']) {
      await refused(forge(ecKey, validHeader(ecKey), withRaw('exp', v)));
    }
    for (const claim of ['nbf', 'iat']) {
      for (const v of ['"0"', `"${past}"`, '1e309', '-1e309', 'null', '[1]', `[${past}]`, '{}'])
        await refused(forge(ecKey, validHeader(ecKey), withRaw(claim, v)));
    }
  });

  it('J21 iss of another trusted issuer, missing, or a trailing-slash/case variant -> 401; no discovery fetch', async () => {
    expectOk(await send(await validEc()));
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_RSA)), /^(unknown_kid|alg_not_allowed|bad_signature)$/);
    await refused(forge(rsaKey, validHeader(rsaKey), validClaims(ISS_EC)), /^(unknown_kid|alg_not_allowed|bad_signature)$/);
    await refused(forge(selfKey, validHeader(selfKey), validClaims(ISS_EC)), /^(unknown_kid|alg_not_allowed|bad_signature)$/);
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_SELF)), 'unknown_kid');
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iss: undefined })), 'missing_issuer');
    for (const iss of [null, [ISS_EC], 1]) await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iss })));
    for (const iss of ['https://evil.test', `${ISS_EC}/`, ISS_EC.toUpperCase(), 'https://IDP-EC.test', ` ${ISS_EC}`, `${ISS_EC}#`]) {
      await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iss })), 'unknown_issuer');
    }
    await refused(forge(attacker, validHeader(attacker), validClaims(`${canary.url}/`)), 'unknown_issuer');
    await sleep(50);
    expect(canary.paths).toEqual([]);
  });

  it('J22 aud missing, other, [], "", number -> 401', async () => {
    expectOk(await send(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC))));
    expectOk(await send(await signToken(ecKey, {}, { iss: ISS_EC, aud: ['other', 'api'] })));
    for (const aud of [undefined, 'other-api', ['other-api'], [], '', 1, 'API', null, { api: true }]) {
      const claims = validClaims(ISS_EC);
      if (aud === undefined) delete claims.aud;
      else claims.aud = aud;
      await refused(forge(ecKey, validHeader(ecKey), claims), /^(wrong_audience|bad_aud|malformed)$/);
    }
  });

  it('J23 signed payload that is an array/string/null -> 401', async () => {
    expectOk(await send(forge(ecKey, validHeader(ecKey), JSON.stringify(validClaims(ISS_EC)))));
    for (const payload of [JSON.stringify([validClaims(ISS_EC)]), JSON.stringify(JSON.stringify(validClaims(ISS_EC))), 'null', '42', 'true']) {
      await refused(forge(ecKey, validHeader(ecKey), payload), 'bad_payload');
    }
    // no payload at all, or JSON cut short
    await refused(forge(ecKey, validHeader(ecKey), ''));
    await refused(forge(ecKey, validHeader(ecKey), JSON.stringify(validClaims(ISS_EC)).slice(0, -1)));
    // and a header that is not a JSON object
    for (const h of [JSON.stringify([validHeader(ecKey)]), 'null', '"ES256"']) await refused(signSegments(ecKey, 'ES256', seg(h), seg(validClaims(ISS_EC))));
  });

  it('J24 roles/scope type confusion: only exact, case-sensitive elements grant (403 otherwise)', async () => {
    expectOk(await send(await validEc({ roles: ['admin'] }), '/admin-area'));
    expectOk(await send(await validEc({ scope: 'read admin' }), '/scoped'));
    for (const roles of ['admin', ['Admin'], 'user,admin', ['user,admin'], [['admin']], { admin: true }, ['admin ']]) {
      expectInsufficientScope(await send(await validEc({ roles }), '/admin-area'));
    }
    // README: a scope claim is a space-separated string or an array of strings; the element must match exactly
    expectOk(await send(await validEc({ scope: ['read', 'admin'] }), '/scoped'));
    for (const scope of ['readadmin', 'ADMIN', 'read,admin', 'admin:write', ['read admin'], ['ADMIN'], 'admin\tread', { admin: true }]) {
      expectInsufficientScope(await send(await validEc({ scope }), '/scoped'));
    }
  });

  it('J25 non-canonical base64url (padding, +/, junk, AB vs AA) -> 401 (400 where not a b64token)', async () => {
    let base = '';
    for (let i = 0; i < 50 && !/[-_]/.test(base); i++) base = await validEc();
    expect(base).toMatch(/[-_]/);
    expectOk(await send(base));
    const [h, p, s] = parts(base);
    await refused(`${h}.${p}.${s}==`);
    await refused(`${h}=.${p}.${s}`);
    await refused(`${h}.${p}==.${s}`);
    await refused(base.replaceAll('-', '+').replaceAll('_', '/'));
    await refused(`${h}.${p}.!!!!`);
    await refused(`${h}.${p}.AB~~`);
    const sib = trailingBitSibling(s) as string;
    expect(Buffer.from(sib, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
    await refused(`${h}.${p}.${sib}`, 'bad_signature_encoding');
    // header and payload siblings, validly signed over exactly those bytes
    let pad = '';
    let hh = '';
    let pp = '';
    for (let i = 0; i < 8; i++) {
      hh = seg(validHeader(ecKey, { x: pad }));
      pp = seg(validClaims(ISS_EC, { x: pad }));
      if (trailingBitSibling(hh) && trailingBitSibling(pp)) break;
      pad += 'x';
    }
    expectOk(await send(signSegments(ecKey, 'ES256', hh, pp)));
    await refused(signSegments(ecKey, 'ES256', trailingBitSibling(hh) as string, pp), 'bad_header');
    await refused(signSegments(ecKey, 'ES256', hh, trailingBitSibling(pp) as string), 'bad_payload');
  });

  it('J26 JWS JSON serialization instead of compact -> refused (400 raw, 401 base64url-wrapped)', async () => {
    const base = await validEc();
    expectOk(await send(base));
    const [h, p, s] = parts(base);
    const flattened = JSON.stringify({ protected: h, payload: p, signature: s });
    const general = JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
    await refused(flattened);
    await refused(general);
    await refused(Buffer.from(flattened).toString('base64url'), 'malformed');
  });

  it('J27 duplicate JSON keys are read last-wins, and the forwarded identity comes from the same object', async () => {
    const dup = (first: string, last: string) => `${JSON.stringify(validClaims(ISS_EC, { sub: undefined, roles: undefined })).slice(0, -1)},${first},${last}}`;
    expectOk(await send(forge(ecKey, validHeader(ecKey), JSON.stringify(validClaims(ISS_EC)))));
    expectOk(await send(forge(ecKey, validHeader(ecKey), dup('"sub":"alice"', '"sub":"mallory"'))), 'mallory');
    expectOk(await send(forge(ecKey, validHeader(ecKey), dup('"sub":"mallory"', '"sub":"alice"'))), 'alice');
    // the authorisation decision reads the same object too
    const userThenAdmin = forge(ecKey, validHeader(ecKey), `${dup('"roles":["user"]', '"roles":["admin"]').slice(0, -1)},"sub":"alice"}`);
    const a = await send(userThenAdmin, '/admin-area');
    expect(a.status).toBe(200);
    expect(up.seen.at(-1)?.headers['x-user-roles']).toBe('admin');
    expectInsufficientScope(
      await send(forge(ecKey, validHeader(ecKey), `${dup('"roles":["admin"]', '"roles":["user"]').slice(0, -1)},"sub":"alice"}`), '/admin-area'),
    );
    // a duplicate iss naming two trusted issuers resolves to the last one, whose key did not sign it
    const claims = validClaims(ISS_EC);
    delete claims.iss;
    await refused(forge(ecKey, validHeader(ecKey), `${JSON.stringify(claims).slice(0, -1)},"iss":"${ISS_EC}","iss":"${ISS_RSA}"}`));
  });

  it('J28 invalid UTF-8 in header or claims, validly signed -> 401', async () => {
    expectOk(await send(await validEc()));
    const inject = (json: string, bad: Buffer): Buffer => {
      const at = json.indexOf('@@');
      return Buffer.concat([Buffer.from(json.slice(0, at)), bad, Buffer.from(json.slice(at + 2))]);
    };
    for (const bad of [Buffer.from([0xff]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80])]) {
      await refused(forge(ecKey, validHeader(ecKey), inject(JSON.stringify(validClaims(ISS_EC, { sub: '@@' })), bad)), 'bad_payload');
      const h = inject(JSON.stringify(validHeader(ecKey, { x: '@@' })), bad).toString('base64url');
      await refused(signSegments(ecKey, 'ES256', h, seg(validClaims(ISS_EC))), 'bad_header');
    }
  });

  it('J29 nested JWT (cty JWT) is never unwrapped -> 401', async () => {
    const inner = await validEc({ roles: ['admin'] });
    expectOk(await send(inner));
    await refused(forge(ecKey, validHeader(ecKey, { cty: 'JWT' }), inner), /^(nested_jwt|bad_payload)$/);
    await refused(forge(ecKey, validHeader(ecKey, { cty: 'JWT' }), validClaims(ISS_EC)), 'nested_jwt');
    await refused(forge(ecKey, validHeader(ecKey, { cty: 'jwt' }), validClaims(ISS_EC)), 'nested_jwt');
    await refused(forge(ecKey, validHeader(ecKey), inner), 'bad_payload');
  });

  it('J30 JWE (5 parts, PBES2 huge p2c, zip) -> 401 fast', async () => {
    expectOk(await send(await validEc()));
    const body = [seg('k'.repeat(32)), seg('iv-iv-iv-iv'), seg('ciphertext'), seg('tag-tag-tag-tag')].join('.');
    const started = performance.now();
    await refused(`${seg({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsaKey.kid })}.${body}`, 'malformed');
    await refused(`${seg({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2_000_000_000, p2s: 'c2FsdHNhbHQ' })}.${body}`, 'malformed');
    await refused(`${seg({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}.${body}`, 'malformed');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('J31 ECDSA psychic signatures (64 zero bytes, DER MAYCAQACAQA, r=s=n) -> 401', async () => {
    const base = await validEc({ roles: ['admin'] });
    expectOk(await send(base));
    const [h, p] = parts(base);
    const N = Buffer.from(P256_N.toString(16), 'hex');
    await refused(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`, 'bad_signature');
    await refused(`${h}.${p}.MAYCAQACAQA`, /^(bad_signature|malformed|bad_signature_encoding)$/);
    await refused(`${h}.${p}.${Buffer.concat([N, N]).toString('base64url')}`, 'bad_signature');
  });

  it('J32 DER-encoded ES signatures, wrong length, r or s >= n -> 401', async () => {
    const base = await validEc();
    expectOk(await send(base));
    const [h, p] = parts(base);
    const key = privateKeyObject(ecKey);
    const raw = signatureFor('ES256', key, `${h}.${p}`);
    const der = signatureFor('ES256', key, `${h}.${p}`, true);
    await refused(`${h}.${p}.${der.toString('base64url')}`, /^(bad_signature|malformed)$/);
    await refused(`${h}.${p}.${raw.subarray(0, 63).toString('base64url')}`, /^(bad_signature|malformed)$/);
    await refused(`${h}.${p}.${Buffer.concat([raw, Buffer.from([0])]).toString('base64url')}`, /^(bad_signature|malformed)$/);
    await refused(`${h}.${p}.${Buffer.concat([Buffer.from([0]), raw]).toString('base64url')}`, /^(bad_signature|malformed)$/);
    // r + n and s + n do not fit 32 bytes: r or s >= n with the same residue
    const N = P256_N;
    const r = BigInt(`0x${raw.subarray(0, 32).toString('hex')}`);
    const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
    const hex32 = (v: bigint) => v.toString(16).padStart(64, '0');
    if (r + N < 2n ** 256n) await refused(`${h}.${p}.${Buffer.from(hex32(r + N) + hex32(s), 'hex').toString('base64url')}`, 'bad_signature');
    if (s + N < 2n ** 256n) await refused(`${h}.${p}.${Buffer.from(hex32(r) + hex32(s + N), 'hex').toString('base64url')}`, 'bad_signature');
  });

  it('J33 8 KB token -> 401; over the header limit -> 431; deep nesting / many claims -> fast, no stall', async () => {
    const small = await validEc({ pad: 'x'.repeat(5000) });
    expect(small.length).toBeLessThan(8192);
    expectOk(await send(small));
    const big = await validEc({ pad: 'x'.repeat(6300) });
    expect(big.length).toBeGreaterThan(8192);
    expect(big.length).toBeLessThan(12_000);
    await refused(big, 'token_too_large');
    // over server.maxHeaderBytes (default 16384)
    const huge = await validEc({ pad: 'x'.repeat(20_000) });
    const a = await send(huge);
    expect(a.status).toBe(431);
    expect(a.reached).toBe(false);
    expect(g.logs.text().includes(huge)).toBe(false);
    // many claims: over the header limit is 431 at the parser; within it, the size limit answers before any JSON work
    const many: Record<string, unknown> = validClaims(ISS_EC);
    for (let i = 0; i < 100_000; i++) many[`c${i}`] = i;
    const started = performance.now();
    const manyToken = forge(attacker, validHeader(ecKey), many);
    const m = await send(manyToken);
    expect(m.status).toBe(431);
    expect(m.reached).toBe(false);
    const deep = `${'{"a":'.repeat(700)}1${'}'.repeat(700)}`;
    const deepToken = forge(attacker, validHeader(ecKey), `${JSON.stringify(validClaims(ISS_EC)).slice(0, -1)},"deep":${deep}}`);
    const t0 = performance.now();
    const [d, alive] = await Promise.all([send(deepToken), send(await validEc())]);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect401(d, deepToken, 'bad_signature');
    expectOk(alive);
    // deeper still: over the size limit, refused before any parsing
    await refused(
      forge(attacker, validHeader(ecKey), `${JSON.stringify(validClaims(ISS_EC)).slice(0, -1)},"deep":${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}}`),
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('J34 more than one credential (header + access_token query, two headers, "Bearer A, Bearer B") -> 400 invalid_request', async () => {
    const token = await validEc();
    const other = await validEc();
    expectOk(await send(token));
    const seenBefore = up.seen.length;
    const cases: Array<[string, Record<string, string | string[]>]> = [
      [`/api/${randomUUID()}?access_token=${other}`, { authorization: `Bearer ${token}` }],
      [`/api/${randomUUID()}`, { authorization: [`Bearer ${token}`, `Bearer ${other}`] }],
      [`/api/${randomUUID()}`, { authorization: `Bearer ${token}, Bearer ${other}` }],
      [`/api/${randomUUID()}?access_token=${token}`, {}],
    ];
    for (const [path, headers] of cases) {
      const r = await sendRaw(g.url, path, { headers });
      expect(r.status, `${path} ${JSON.stringify(headers).slice(0, 40)}`).toBe(400);
      const body = JSON.parse(r.body) as Record<string, unknown>;
      expect(body.error).toBe('invalid_request');
      expect(typeof body.error_description).toBe('string');
      expect(body.request_id).toBe(r.headers['x-request-id']);
      const line = g.logs.lines.find((l) => l.msg === 'request' && l.reqId === body.request_id);
      expect(line?.status).toBe(400);
      expect(String(line?.path)).not.toContain('access_token');
    }
    expect(up.seen.length).toBe(seenBefore);
    // README: only the Authorization header is read; a cookie is not a credential, so header + cookie is one credential
    const withCookie = await sendRaw(g.url, `/api/${randomUUID()}`, { headers: { authorization: `Bearer ${token}`, cookie: `access_token=${other}` } });
    expect(withCookie.status).toBe(200);
    expect(up.seen.at(-1)?.headers['x-user-id']).toBe('alice');
    const cookieOnly = await sendRaw(g.url, `/api/${randomUUID()}`, { headers: { cookie: `access_token=${token}` } });
    expect(cookieOnly.status).toBe(401);
    expect(up.seen.length).toBe(seenBefore + 1);
    for (const t of [token, other]) for (const s of t.split('.')) expect(g.logs.text().includes(s)).toBe(false);
  });

  it('J35 replay after revocation, also re-encoded or re-signed variants with the same jti -> 401', async () => {
    const jti = randomUUID();
    const token = await signToken(ecKey, {}, { iss: ISS_EC, jti });
    expectOk(await send(token));
    expect((await revoke({ token })).status).toBe(204);
    await refused(token, /^revoked_/);
    // the same jti in a freshly signed token with other bytes (iat, claim order, extra claim)
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { jti, iat: now() - 5, x: 1 })), /^revoked_/);
    const [h, p, s] = parts(token);
    await refused(`${h}.${p}.${trailingBitSibling(s) as string}`);
    // ECDSA malleability: (r, n - s) is a second valid signature over the same bytes; the jti still revokes it
    const N = P256_N;
    const sig = Buffer.from(s, 'base64url');
    const low = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const twin = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), Buffer.from((N - low).toString(16).padStart(64, '0'), 'hex')]).toString('base64url')}`;
    expect(twin).not.toBe(token);
    await refused(twin, /^revoked_/);
    // other tokens of the subject are unaffected
    expectOk(await send(await validEc()));
  });

  it('J36 same kid published by two issuers: key lookup is scoped to the issuer', async () => {
    expect(aKey.kid).toBe(bKey.kid);
    expectOk(await send(await signToken(aKey, {}, { iss: ISS_A })));
    expectOk(await send(await signToken(bKey, {}, { iss: ISS_B })));
    await refused(await signToken(aKey, {}, { iss: ISS_B }), 'bad_signature');
    await refused(await signToken(bKey, {}, { iss: ISS_A }), 'bad_signature');
  });

  it('J37 hostile JWKS (oct, duplicate kid, use:enc, RSA < 2048, bad curve, private, unusable, not keys) -> those keys ignored, the good one works', async () => {
    expectOk(await send(await signToken(hostileGood, {}, { iss: ISS_HOSTILE })));
    const hostileKid = /^(unknown_kid|ambiguous_kid|alg_not_allowed|bad_signature)$/;
    for (const kid of ['enc', 'rsa1024', 'dup', 'k1', 'priv']) {
      const { key, alg } = hostileSigners[kid]!;
      await refused(forge(key, { alg, kid, typ: 'at+jwt' }, validClaims(ISS_HOSTILE, { roles: ['admin'] })), hostileKid);
    }
    // without a kid, signed by a hostile key
    for (const kid of ['enc', 'dup', 'priv']) {
      const { key, alg } = hostileSigners[kid]!;
      await refused(forge(key, { alg, typ: 'at+jwt' }, validClaims(ISS_HOSTILE)));
    }
    // an unrelated key under the duplicate kid, and under the kid of a key that could not be imported
    for (const kid of ['dup', 'broken']) {
      const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await refused(forge(kp.privateKey, { alg: 'ES256', kid, typ: 'at+jwt' }, validClaims(ISS_HOSTILE)));
    }
    const oct = hostileKeys.find((k) => (k as { kid?: string } | null)?.kid === 'oct') as { k: string };
    const hs = seg({ alg: 'HS256', kid: 'oct', typ: 'at+jwt' });
    const ps = seg(validClaims(ISS_HOSTILE));
    await refused(`${hs}.${ps}.${createHmac('sha256', Buffer.from(oct.k, 'base64url')).update(`${hs}.${ps}`).digest('base64url')}`, 'alg_not_allowed');
    const messages = g.logs.lines.map((l) => String(l.msg));
    for (const kid of ['oct', 'rsa1024', 'dup', 'k1', 'priv'])
      expect(
        messages.some((m) => m.startsWith(`ignoring JWKS key "${kid}"`)),
        kid,
      ).toBe(true);
    // encryption keys are normal in an IdP's JWKS: skipped at debug level, not warned about
    expect(messages.some((m) => m.startsWith('ignoring JWKS key "enc"'))).toBe(false);
    expectOk(await send(await signToken(hostileGood, {}, { iss: ISS_HOSTILE })));
    expect((await request(g.adminUrl, '/readyz')).status).toBe(200);
  });

  it('J38 verification cache: a cached token that expires or is revoked -> 401; tokens never share a cache key', async () => {
    const t = now();
    const short = forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t, exp: t + 2 }));
    expectOk(await send(short));
    expectOk(await send(short)); // served from the cache
    const revokedLater = await validEc();
    expectOk(await send(revokedLater));
    expectOk(await send(revokedLater));
    expect((await revoke({ token: revokedLater })).status).toBe(204);
    await refused(revokedLater, /^revoked_/);
    // two tokens with different subjects: each is its own entry
    const bob = await signToken(ecKey, {}, { iss: ISS_EC, sub: 'bob' });
    expectOk(await send(bob), 'bob');
    expectOk(await send(await validEc()), 'alice');
    expectOk(await send(bob), 'bob');
    // a same-bytes re-encoding of a cached token is not a cache hit
    const [h, p, s] = parts(bob);
    await refused(`${h}.${p}.${trailingBitSibling(s) as string}`, 'bad_signature_encoding');
    // the cache finds entries by a token's last characters (its signature's): bob's signature under other claims
    // lands on bob's entry, which must not answer for it; it is verified, refused, and bob's entry stays bob's
    const otherClaims = Buffer.from(JSON.stringify(validClaims(ISS_EC, { sub: 'mallory' }))).toString('base64url');
    await refused(`${h}.${otherClaims}.${s}`, 'bad_signature');
    expectOk(await send(bob), 'bob');
    await sleep(Math.max(0, (t + 2) * 1000 - Date.now()) + 50);
    await refused(short, 'expired');
  });
});
