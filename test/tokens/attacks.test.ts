/**
 * SECURITY.md §1 (J01-J38): every attack starts from a fully valid token that
 * the gateway accepts, and changes only the part under attack. Through a real
 * gateway and a real upstream: 401 invalid_token with the RFC 6750 challenge
 * (400 invalid_request where the Authorization header itself is malformed),
 * the upstream never called, never a 500.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { mapJoseError, preflight } from '../../src/tokens/verifier.js';
import { b64u, decodePart, makeKey, parts, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import {
  expectAccepted,
  expectInvalidToken,
  expectRefused,
  forge,
  probe,
  publicKeyObject,
  seg,
  signSegments,
  signatureFor,
  privateKeyObject,
  sleep,
  trailingBitSibling,
  validClaims,
  validHeader,
  type Answer,
} from './forge.js';

const ISS_SELF = 'https://gatehouse.test';
const ISS_RSA = 'https://idp-rsa.test/realms/main';
const ISS_EC = 'https://idp-ec.test';
const ISS_A = 'https://idp-a.test';
const ISS_B = 'https://idp-b.test';

let selfKey: TestKey;
let rsaKey: TestKey;
let ecKey: TestKey;
let aKey: TestKey;
let bKey: TestKey;
let attacker: TestKey;
let p384: TestKey;
let up: TestUpstream;
let g: TestGateway;
let tolerant: TestGateway;
let canary: { server: Server; url: string; hits: string[] };

/** each file in its own directory: two issuers publish the same kid */
const ownDir = () => mkdtempSync(join(tmpdir(), 'gatehouse-attacks-'));

beforeAll(async () => {
  [selfKey, rsaKey, ecKey, aKey, bKey, attacker, p384] = await Promise.all([
    makeKey('ES256', 'self-1'),
    makeKey('RS256', 'rsa-1'),
    makeKey('ES256', 'ec-1'),
    makeKey('ES256', 'shared'),
    makeKey('ES256', 'shared'),
    makeKey('ES256', 'attacker-1'),
    makeKey('ES384', 'p384-1'),
  ]);
  up = await startUpstream();
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [attacker.publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  canary = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
  const staticIssuer = (iss: string, key: TestKey, algorithms: string[]) => ({ iss, keys: [{ file: writeJwkFile(key.publicJwk, ownDir()) }], audience: 'api', algorithms });
  g = await startGateway({
    log: { level: 'info' },
    issuer: { iss: ISS_SELF, audience: 'api', signingKeys: [{ file: writeJwkFile(selfKey.privateJwk, ownDir()) }] },
    trustedIssuers: [
      // more algorithms than the keys need, so alg/key-type mismatches are caught by key matching, not only by the allow-list
      staticIssuer(ISS_RSA, rsaKey, ['RS256', 'PS256', 'ES256']),
      staticIssuer(ISS_EC, ecKey, ['ES256', 'ES384', 'RS256']),
      staticIssuer(ISS_A, aKey, ['ES256']),
      staticIssuer(ISS_B, bKey, ['ES256']),
    ],
    verify: { algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'], clockTolerance: 0 },
    routes: [{ match: { path: '/api/**' }, upstream: up.url }],
  });
  tolerant = await startGateway({
    trustedIssuers: [staticIssuer(ISS_EC, ecKey, ['ES256'])],
    verify: { clockTolerance: '30s' },
    routes: [{ match: { path: '/api/**' }, upstream: up.url }],
  });
});

afterAll(async () => {
  await g?.stop();
  await tolerant?.stop();
  await up?.close();
  await new Promise<void>((resolve) => canary?.server.close(() => resolve()));
});

const send = (token: string): Promise<Answer> => probe(g.url, up, token);
/** the gateway's logged reason id for one answer (Envoy-style stable reason, never sent to the client) */
const reasonOf = (a: Answer): unknown => g.logs.lines.find((l) => l.msg === 'request' && l.reqId === a.headers.get('x-request-id'))?.reason;
const refused = async (token: string): Promise<void> => expectRefused(await send(token), token);
const validEc = (claims: Record<string, unknown> = {}) => signToken(ecKey, claims, { iss: ISS_EC });
const withHeader = (token: string, edit: (h: Record<string, unknown>) => void): string => {
  const [h, p, s] = parts(token);
  const header = decodePart(h);
  edit(header);
  return `${b64u(header)}.${p}.${s}`;
};
const withPayload = (token: string, edit: (c: Record<string, unknown>) => void): string => {
  const [h, p, s] = parts(token);
  const claims = decodePart(p);
  edit(claims);
  return `${h}.${b64u(claims)}.${s}`;
};

describe('baseline: the unmodified tokens every attack starts from are accepted', () => {
  it.each([
    ['self-issued ES256', () => signToken(selfKey, {}, { iss: ISS_SELF })],
    ['trusted RS256', () => signToken(rsaKey, {}, { iss: ISS_RSA })],
    ['trusted ES256', () => signToken(ecKey, {}, { iss: ISS_EC })],
    ['issuer A, kid "shared"', () => signToken(aKey, {}, { iss: ISS_A })],
    ['issuer B, kid "shared"', () => signToken(bKey, {}, { iss: ISS_B })],
    ['hand-forged ES256', async () => forge(ecKey, validHeader(ecKey), validClaims(ISS_EC))],
    ['hand-forged RS256', async () => forge(rsaKey, validHeader(rsaKey), validClaims(ISS_RSA))],
    ['aud list containing api', () => signToken(ecKey, {}, { iss: ISS_EC, aud: ['other', 'api'] })],
  ])('%s -> 200', async (_name, make) => {
    const a = await send(await make());
    expectAccepted(a);
    const seen = up.seen.at(-1)!;
    expect(seen.headers['x-user-id']).toBe('alice');
  });
});

describe('J01 alg none', () => {
  const variants = ['none', 'None', 'NONE', 'nOnE'];
  it.each(variants)('alg %s with an empty signature, the kept signature, or no third part -> 401', async (alg) => {
    const [h, p, s] = parts(withHeader(await validEc({ roles: ['admin'] }), (x) => (x.alg = alg)));
    await refused(`${h}.${p}.`);
    await refused(`${h}.${p}.${s}`);
    await refused(`${h}.${p}`);
  });
  it('alg none on the self-issued issuer -> 401', async () => {
    const base = await signToken(selfKey, {}, { iss: ISS_SELF });
    const [h, p] = parts(withHeader(base, (x) => (x.alg = 'none')));
    await refused(`${h}.${p}.`);
  });
  it('alg of a supported algorithm in the wrong case (es256) -> 401', async () => {
    await refused(forge(ecKey, validHeader(ecKey, { alg: 'es256' }), validClaims(ISS_EC), 'ES256'));
  });
});

describe('J02 signature and content tampering', () => {
  it('stripped signature -> 401', async () => {
    const [h, p] = parts(await validEc());
    await refused(`${h}.${p}.`);
    await refused(`${h}.${p}`);
  });
  it('truncated signature -> 401', async () => {
    const [h, p, s] = parts(await validEc());
    await refused(`${h}.${p}.${s.slice(0, -4)}`);
    await refused(`${h}.${p}.${s.slice(0, s.length >> 1)}`);
    await refused(`${h}.${p}.${s.slice(0, -1)}`);
  });
  it('one signature character flipped -> 401', async () => {
    const [h, p, s] = parts(await validEc());
    const i = 10;
    const flipped = s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    await refused(`${h}.${p}.${flipped}`);
  });
  it('payload edited (roles widened, sub changed), signature kept -> 401', async () => {
    const base = await validEc({ roles: ['user'] });
    await refused(withPayload(base, (c) => (c.roles = ['admin'])));
    await refused(withPayload(base, (c) => (c.sub = 'root')));
    await refused(withPayload(base, (c) => (c.exp = (c.exp as number) + 3600)));
  });
  it('header edited (extra member, typ changed), signature kept -> 401', async () => {
    const base = await validEc();
    await refused(withHeader(base, (h) => (h.x = 1)));
    await refused(withHeader(base, (h) => (h.typ = 'JWT')));
  });
  it('signature of another valid token of the same issuer spliced in -> 401', async () => {
    const [h, p] = parts(await validEc({ roles: ['user'] }));
    const [, , s2] = parts(await validEc({ roles: ['admin'] }));
    await refused(`${h}.${p}.${s2}`);
  });
  it('RSA signature one bit off -> 401', async () => {
    const [h, p, s] = parts(await signToken(rsaKey, {}, { iss: ISS_RSA }));
    const bytes = Buffer.from(s, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    await refused(`${h}.${p}.${bytes.toString('base64url')}`);
  });
});

describe('J03 token shapes', () => {
  it.each(['', 'a', 'a.b', 'a.b.c.d', '.p.s', 'h..s', '.p.', 'h.p.', '..', '...', 'a.b.c.d.e.f'])('%j -> 401 (or 400 when not a b64token)', async (shape) => {
    await refused(shape);
  });
  it('valid segments in the wrong number (h.p.s.s, h.h.p.s) -> 401', async () => {
    const [h, p, s] = parts(await validEc());
    await refused(`${h}.${p}.${s}.${s}`);
    await refused(`${h}.${h}.${p}.${s}`);
  });
});

describe('J04/J05 HMAC key confusion against an RS256 issuer', () => {
  const hmacToken = (alg: string, secret: string | Buffer, kid = rsaKey.kid): string => {
    const h = seg({ alg, kid, typ: 'at+jwt' });
    const p = seg(validClaims(ISS_RSA, { roles: ['admin'] }));
    const hash = alg === 'HS384' ? 'sha384' : alg === 'HS512' ? 'sha512' : 'sha256';
    return `${h}.${p}.${createHmac(hash, secret).update(`${h}.${p}`).digest('base64url')}`;
  };
  it('HS256/384/512 signed with the public key bytes in every encoding -> 401', async () => {
    const pub = publicKeyObject(rsaKey);
    const pem = pub.export({ type: 'spki', format: 'pem' }) as string;
    const secrets: Array<[string, string | Buffer]> = [
      ['PEM with trailing newline', pem],
      ['PEM without trailing newline', pem.trimEnd()],
      ['PEM with leading whitespace', `  \n${pem}`],
      ['PKCS1 PEM', pub.export({ type: 'pkcs1', format: 'pem' }) as string],
      ['SPKI DER', pub.export({ type: 'spki', format: 'der' })],
      ['JWK JSON as published', JSON.stringify(rsaKey.publicJwk)],
      ['JWK JSON, key members only', JSON.stringify({ kty: 'RSA', n: rsaKey.publicJwk.n, e: rsaKey.publicJwk.e })],
      ['JWKS JSON', JSON.stringify({ keys: [rsaKey.publicJwk] })],
      ['modulus bytes', Buffer.from(rsaKey.publicJwk.n as string, 'base64url')],
    ];
    expect(pem.endsWith('\n')).toBe(true);
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      for (const [what, secret] of secrets) {
        const token = hmacToken(alg, secret);
        const a = await send(token);
        expect(a.status, `${alg} ${what}`).toBe(401);
        expectInvalidToken(a);
        expect(reasonOf(a)).toBe('alg_not_allowed');
      }
    }
  });
  it('HS256 with an empty key -> 401', async () => {
    await refused(hmacToken('HS256', ''));
    await refused(hmacToken('HS256', '', 'no-such-kid'));
  });
});

describe('J07 algorithm not matching the key type', () => {
  // The issuers allow these algorithms, so the refusal must come from matching alg to the key, not from the allow-list.
  const refusedByKeyMatch = async (token: string) => {
    const a = await send(token);
    expectInvalidToken(a);
    expect(reasonOf(a)).not.toBe('alg_not_allowed');
  };
  it('RS256 header with the EC issuer kid, signed by an RSA key the gateway trusts elsewhere -> 401', async () => {
    await refusedByKeyMatch(forge(rsaKey, validHeader(ecKey, { alg: 'RS256' }), validClaims(ISS_EC)));
  });
  it('ES256 header on the RSA issuer (its kid), signed with an EC key -> 401', async () => {
    await refusedByKeyMatch(forge(attacker, validHeader(rsaKey, { alg: 'ES256' }), validClaims(ISS_RSA)));
    await refusedByKeyMatch(forge(ecKey, validHeader(rsaKey, { alg: 'ES256' }), validClaims(ISS_RSA)));
  });
  it('RS/PS swap: PS256 with the genuine RSA private key, but the key is pinned to RS256 -> 401', async () => {
    await refusedByKeyMatch(forge(rsaKey, validHeader(rsaKey, { alg: 'PS256' }), validClaims(ISS_RSA)));
  });
  it('ES384 header on the P-256 key, signed with a P-384 key -> 401', async () => {
    await refusedByKeyMatch(forge(p384, validHeader(ecKey, { alg: 'ES384' }), validClaims(ISS_EC)));
  });
  it('EdDSA header (not in the issuer allow-list) -> 401', async () => {
    const ed = await makeKey('EdDSA', ecKey.kid);
    const a = await send(forge(ed, validHeader(ecKey, { alg: 'EdDSA' }), validClaims(ISS_EC)));
    expectInvalidToken(a);
    expect(reasonOf(a)).toBe('alg_not_allowed');
  });
});

describe('J08/J09 keys and key URLs carried by the token are never used', () => {
  it('embedded jwk header with the attacker key -> 401', async () => {
    await refused(forge(attacker, validHeader(attacker, { jwk: attacker.publicJwk }), validClaims(ISS_EC, { roles: ['admin'] })));
    await refused(forge(attacker, validHeader(ecKey, { jwk: attacker.publicJwk }), validClaims(ISS_EC, { roles: ['admin'] })));
    await refused(forge(attacker, validHeader(attacker, { jwk: attacker.publicJwk }), validClaims(ISS_SELF, { roles: ['admin'] })));
  });
  it('jku and x5u at a loopback canary serving the attacker key -> 401 and the canary gets no request', async () => {
    const claims = () => validClaims(ISS_EC, { roles: ['admin'] });
    await refused(forge(attacker, validHeader(attacker, { jku: `${canary.url}/jwks.json` }), claims()));
    await refused(forge(attacker, validHeader(ecKey, { jku: `${canary.url}/jwks.json` }), claims()));
    await refused(forge(attacker, validHeader(attacker, { x5u: `${canary.url}/cert.pem` }), claims()));
    // a genuinely signed token that merely carries a jku is refused too, and nothing is fetched
    await refused(forge(ecKey, validHeader(ecKey, { jku: `${canary.url}/jwks.json` }), claims()));
    await sleep(150);
    expect(canary.hits).toEqual([]);
  });
  it('x5c chain with the attacker key -> 401', async () => {
    const der = publicKeyObject(attacker).export({ type: 'spki', format: 'der' }).toString('base64');
    await refused(forge(attacker, validHeader(attacker, { x5c: [der] }), validClaims(ISS_EC)));
    await refused(forge(ecKey, validHeader(ecKey, { x5c: [der] }), validClaims(ISS_EC)));
  });
  it('an unknown iss pointing at the canary is not discovered -> 401, no fetch', async () => {
    await refused(forge(attacker, validHeader(attacker), validClaims(canary.url)));
    await refused(forge(attacker, validHeader(attacker), validClaims(`${canary.url}/.well-known/openid-configuration`)));
    await sleep(100);
    expect(canary.hits).toEqual([]);
  });
});

describe('J05/J10/J11 kid lookups', () => {
  it('unknown kid, signed with the genuine key -> 401', async () => {
    await refused(forge(ecKey, validHeader(ecKey, { kid: 'no-such-kid' }), validClaims(ISS_EC)));
  });
  it('kid path traversal and injection strings -> 401, fast, nothing read', async () => {
    const kids = [
      '../../../../../../dev/null',
      '/dev/null',
      '../../config/keys/dev-es256.jwk.json',
      '..\\..\\..\\windows\\win.ini',
      'file:///etc/passwd',
      "' OR '1'='1",
      'x; rm -rf /',
      '$(id)',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      'k\u0000id',
      '*',
      'a'.repeat(4000),
    ];
    const started = performance.now();
    for (const kid of kids) {
      await refused(forge(attacker, validHeader(ecKey, { kid }), validClaims(ISS_EC)));
      await refused(forge(ecKey, validHeader(ecKey, { kid }), validClaims(ISS_EC)));
      const h = seg({ alg: 'HS256', kid, typ: 'at+jwt' });
      const p = seg(validClaims(ISS_EC));
      await refused(`${h}.${p}.${createHmac('sha256', '').update(`${h}.${p}`).digest('base64url')}`);
    }
    expect(performance.now() - started).toBeLessThan(3000);
  });
  it('kid of another type (number, object, null) -> 401', async () => {
    for (const kid of [1, { a: 1 }, null, ['ec-1']]) await refused(forge(ecKey, validHeader(ecKey, { kid }), validClaims(ISS_EC)));
  });
});

describe('J31/J32 ECDSA signature forms', () => {
  const signingInput = async () => {
    const [h, p] = parts(await validEc({ roles: ['admin'] }));
    return [h, p] as const;
  };
  // P-256 group order n
  const N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
  it('64 zero bytes (r = s = 0, CVE-2022-21449) -> 401', async () => {
    const [h, p] = await signingInput();
    await refused(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`);
  });
  it('DER-encoded zero signature MAYCAQACAQA -> 401', async () => {
    const [h, p] = await signingInput();
    await refused(`${h}.${p}.MAYCAQACAQA`);
  });
  it('r = s = n -> 401', async () => {
    const [h, p] = await signingInput();
    await refused(`${h}.${p}.${Buffer.concat([N, N]).toString('base64url')}`);
  });
  it('the genuine signature in DER instead of r||s -> 401', async () => {
    const [h, p] = await signingInput();
    const der = signatureFor('ES256', privateKeyObject(ecKey), `${h}.${p}`, true);
    await refused(`${h}.${p}.${der.toString('base64url')}`);
  });
  it('the genuine signature with a byte added or removed -> 401', async () => {
    const [h, p] = await signingInput();
    const raw = signatureFor('ES256', privateKeyObject(ecKey), `${h}.${p}`);
    await refused(`${h}.${p}.${raw.subarray(0, 63).toString('base64url')}`);
    await refused(`${h}.${p}.${Buffer.concat([raw, Buffer.from([0])]).toString('base64url')}`);
    await refused(`${h}.${p}.${Buffer.concat([Buffer.from([0]), raw]).toString('base64url')}`);
  });
});

describe('J17-J19 time claims (clockTolerance 0)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  it('exp = now -> 401 ("on or after")', async () => {
    const t = now();
    const a = await send(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t - 60, exp: t })));
    expectInvalidToken(a);
  });
  it('exp in the past, exp missing -> 401', async () => {
    const t = now();
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t - 60, exp: t - 1 })));
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { exp: undefined })));
  });
  it('nbf in the future -> 401; nbf = now -> 200', async () => {
    const t = now();
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { nbf: t + 5 })));
    expectAccepted(await send(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { nbf: now() }))));
  });
  it('absurd iat in the future -> 401', async () => {
    const t = now();
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t + 10 * 365 * 86400, exp: t + 11 * 365 * 86400 })));
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iat: t + 120 })));
  });
});

describe('J17-J19 tolerance edges (clockTolerance 30s)', () => {
  it('exp/nbf/iat exactly at and one second past the 30 s tolerance', async () => {
    const cases: Array<[string, (t: number) => Record<string, unknown>, number]> = [
      ['exp = now - 29', (t) => ({ iat: t - 100, exp: t - 29 }), 200],
      ['exp = now - 30', (t) => ({ iat: t - 100, exp: t - 30 }), 401],
      ['nbf = now + 30', (t) => ({ nbf: t + 30 }), 200],
      ['nbf = now + 31', (t) => ({ nbf: t + 31 }), 401],
      ['iat = now + 30', (t) => ({ iat: t + 30 }), 200],
      ['iat = now + 31', (t) => ({ iat: t + 31 }), 401],
    ];
    // Run all cases inside one wall-clock second so the gateway's "now" is the test's "now".
    for (let attempt = 0; attempt < 3; attempt++) {
      const ms = Date.now() % 1000;
      if (ms > 500) await sleep(1005 - ms);
      const t = Math.floor(Date.now() / 1000);
      const answers = await Promise.all(cases.map(([, claims]) => probe(tolerant.url, up, forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, claims(t))))));
      if (Math.floor(Date.now() / 1000) !== t) continue;
      answers.forEach((a, i) => {
        const [name, , want] = cases[i]!;
        expect(a.status, name).toBe(want);
        if (want === 401) expectInvalidToken(a);
        else expectAccepted(a);
      });
      return;
    }
    throw new Error('could not run the edge cases within one second');
  });
});

describe('J20 time claims of the wrong type (hand-built payloads)', () => {
  /** the valid claims as JSON text with `claim` set to the raw JSON `value` */
  const withRaw = (claim: string, value: string): string => {
    const claims = validClaims(ISS_EC);
    delete claims[claim];
    return `${JSON.stringify(claims).slice(0, -1)},"${claim}":${value}}`;
  };
  const future = () => Math.floor(Date.now() / 1000) + 300;
  const past = () => Math.floor(Date.now() / 1000) - 300;
  it('the hand-built payload itself is accepted when the value is a number', async () => {
    expectAccepted(await send(forge(ecKey, validHeader(ecKey), withRaw('exp', String(future())))));
  });
  it.each([
    ['exp', () => `"${future()}"`],
    ['exp', () => '"999"'],
    ['exp', () => 'null'],
    ['exp', () => `[${future()}]`],
    ['exp', () => '1e309'],
    ['exp', () => '-1'],
    ['exp', () => 'true'],
    ['exp', () => '{}'],
    ['nbf', () => `"${past()}"`],
    ['nbf', () => 'null'],
    ['nbf', () => `[${past()}]`],
    ['nbf', () => '1e309'],
    ['nbf', () => '-1e309'],
    ['iat', () => `"${past()}"`],
    ['iat', () => 'null'],
    ['iat', () => `[${past()}]`],
    ['iat', () => '1e309'],
    ['iat', () => '-1e309'],
  ])('%s = %s -> 401', async (claim, value) => {
    const v = value();
    const a = await send(forge(ecKey, validHeader(ecKey), withRaw(claim, v)));
    expect(a.status, `${claim}=${v}`).toBe(401);
    expectInvalidToken(a);
  });
});

describe('J21 issuer', () => {
  it.each([
    ['unknown', 'https://evil.test'],
    ['trailing slash', `${ISS_EC}/`],
    ['case variant', ISS_EC.toUpperCase()],
    ['host case variant', 'https://IDP-EC.test'],
    ['whitespace', ` ${ISS_EC}`],
  ])('iss %s -> 401', async (_what, iss) => {
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iss })));
  });
  it('iss missing, null, a list or a number -> 401', async () => {
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iss: undefined })));
    for (const iss of [null, [ISS_EC], 1]) await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_EC, { iss })));
  });
  it('a token naming one issuer but signed with another issuer key -> 401', async () => {
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_RSA)));
    await refused(forge(rsaKey, validHeader(rsaKey), validClaims(ISS_EC)));
    await refused(forge(selfKey, validHeader(selfKey), validClaims(ISS_EC)));
    await refused(forge(ecKey, validHeader(ecKey), validClaims(ISS_SELF)));
  });
  it('J36 same kid published by two issuers: the key is looked up within the token issuer only', async () => {
    expect(aKey.kid).toBe(bKey.kid);
    expectAccepted(await send(await signToken(aKey, {}, { iss: ISS_A })));
    expectAccepted(await send(await signToken(bKey, {}, { iss: ISS_B })));
    await refused(await signToken(aKey, {}, { iss: ISS_B }));
    await refused(await signToken(bKey, {}, { iss: ISS_A }));
  });
});

describe('J22 audience', () => {
  it.each([
    ['missing', undefined],
    ['other', 'other-api'],
    ['list without api', ['other-api']],
    ['empty list', []],
    ['empty string', ''],
    ['number', 1],
    ['case variant', 'API'],
    ['null', null],
    ['object', { api: true }],
  ])('aud %s -> 401', async (_what, aud) => {
    const claims = validClaims(ISS_EC);
    if (aud === undefined) delete claims.aud;
    else claims.aud = aud;
    await refused(forge(ecKey, validHeader(ecKey), claims));
  });
});

describe('J15/J16 token type', () => {
  it('refresh-typed tokens are never access tokens -> 401', async () => {
    for (const typ of ['refresh+jwt', 'application/refresh+jwt', 'REFRESH+JWT', 'Refresh+JWT']) {
      await refused(await signToken(selfKey, {}, { iss: ISS_SELF, typ }));
      await refused(await signToken(ecKey, {}, { iss: ISS_EC, typ }));
    }
  });
  it('self-issued token without typ at+jwt (missing, JWT, an ID token shape) -> 401', async () => {
    await refused(await signToken(selfKey, {}, { iss: ISS_SELF, typ: null }));
    await refused(await signToken(selfKey, {}, { iss: ISS_SELF, typ: 'JWT' }));
    await refused(await signToken(selfKey, { nonce: 'n', auth_time: 1 }, { iss: ISS_SELF, typ: 'JWT' }));
  });
  it('self-issued with typ at+jwt or application/at+jwt -> 200 (RFC 9068 §4)', async () => {
    expectAccepted(await send(await signToken(selfKey, {}, { iss: ISS_SELF, typ: 'at+jwt' })));
    expectAccepted(await send(await signToken(selfKey, {}, { iss: ISS_SELF, typ: 'application/at+jwt' })));
  });
});

describe('J14 crit', () => {
  it('crit naming an unknown extension -> 401', async () => {
    await refused(forge(ecKey, validHeader(ecKey, { crit: ['exp-x'], 'exp-x': true }), validClaims(ISS_EC)));
  });
  it('malformed crit (empty, a string, a number, naming a registered header) -> 401', async () => {
    for (const crit of [[], 'exp-x', [1], ['alg'], ['']]) await refused(forge(ecKey, validHeader(ecKey, { crit }), validClaims(ISS_EC)));
  });
  it('b64:false in crit with a signature valid over the unencoded input -> 401', async () => {
    const h = seg(validHeader(ecKey, { b64: false, crit: ['b64'] }));
    const p = seg(validClaims(ISS_EC));
    await refused(signSegments(ecKey, 'ES256', h, p));
  });
});

describe('J23 payload that is not a JSON object', () => {
  it.each([
    ['array', () => JSON.stringify([validClaims(ISS_EC)])],
    ['string', () => JSON.stringify(JSON.stringify(validClaims(ISS_EC)))],
    ['null', () => 'null'],
    ['number', () => '42'],
    ['true', () => 'true'],
    ['empty', () => ''],
    ['truncated JSON', () => JSON.stringify(validClaims(ISS_EC)).slice(0, -1)],
  ])('%s -> 401', async (_what, payload) => {
    await refused(forge(ecKey, validHeader(ecKey), payload()));
  });
  it('header that is not a JSON object -> 401', async () => {
    const p = seg(validClaims(ISS_EC));
    for (const h of [JSON.stringify([validHeader(ecKey)]), 'null', '"ES256"']) await refused(signSegments(ecKey, 'ES256', seg(h), p));
  });
});

describe('J25 non-canonical base64url', () => {
  it('padding "=" on a segment -> 401 or 400', async () => {
    const [h, p, s] = parts(await validEc());
    await refused(`${h}.${p}.${s}==`);
    await refused(`${h}=.${p}.${s}`);
    await refused(`${h}.${p}==.${s}`);
  });
  it('"+" and "/" instead of "-" and "_" -> 401', async () => {
    let token = '';
    for (let i = 0; i < 50 && !/[-_]/.test(token); i++) token = await validEc();
    expect(token).toMatch(/[-_]/);
    await refused(token.replaceAll('-', '+').replaceAll('_', '/'));
  });
  it('signature with a trailing-bit sibling as the last character (same bytes) -> 401, the original stays valid', async () => {
    const token = await validEc();
    const [h, p, s] = parts(token);
    const sib = trailingBitSibling(s);
    expect(sib).not.toBeNull();
    expect(sib).not.toBe(s);
    expect(Buffer.from(sib as string, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
    await refused(`${h}.${p}.${sib as string}`);
    expectAccepted(await send(token));
    // a cached original does not make its re-encoding acceptable
    await refused(`${h}.${p}.${sib as string}`);
  });
  it('header or payload with a trailing-bit sibling, signed over exactly those bytes -> 401', async () => {
    // pad until both segments have unused trailing bits
    let pad = '';
    let h = '';
    let p = '';
    for (let i = 0; i < 8; i++) {
      h = seg(validHeader(ecKey, { x: pad }));
      p = seg(validClaims(ISS_EC, { x: pad }));
      if (trailingBitSibling(h) && trailingBitSibling(p)) break;
      pad += 'x';
    }
    const hs = trailingBitSibling(h) as string;
    const ps = trailingBitSibling(p) as string;
    expect(Buffer.from(hs, 'base64url').equals(Buffer.from(h, 'base64url'))).toBe(true);
    expectAccepted(await send(signSegments(ecKey, 'ES256', h, p)));
    await refused(signSegments(ecKey, 'ES256', hs, p));
    await refused(signSegments(ecKey, 'ES256', h, ps));
  });
  it('junk characters in a segment -> 400 or 401', async () => {
    const [h, p] = parts(await validEc());
    await refused(`${h}.${p}.!!!!`);
    await refused(`${h}.${p}.AB~~`);
  });
});

describe('J26 JWS JSON serialization', () => {
  it('flattened and general JSON serialization instead of compact -> refused', async () => {
    const [h, p, s] = parts(await validEc());
    const flattened = JSON.stringify({ protected: h, payload: p, signature: s });
    const general = JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
    await refused(flattened);
    await refused(general);
    await refused(Buffer.from(flattened).toString('base64url'));
  });
});

describe('J27 duplicate JSON members', () => {
  const dup = (first: string, last: string) => `${JSON.stringify(validClaims(ISS_EC)).slice(0, -1)},${first},${last}}`;
  it('duplicate sub: rejected, or the last one wins everywhere including the forwarded identity', async () => {
    const a = await send(forge(ecKey, validHeader(ecKey), dup('"sub":"alice"', '"sub":"mallory"')));
    if (a.status === 200) expect(up.seen.at(-1)?.headers['x-user-id']).toBe('mallory');
    else expectInvalidToken(a, []);
  });
  it('duplicate iss naming two trusted issuers: verified against the same one that is trusted -> 401 for the other issuer key', async () => {
    const claims = validClaims(ISS_EC);
    delete claims.iss;
    const payload = `${JSON.stringify(claims).slice(0, -1)},"iss":"${ISS_EC}","iss":"${ISS_RSA}"}`;
    await refused(forge(ecKey, validHeader(ecKey), payload));
  });
});

describe('J28 invalid UTF-8', () => {
  const withBytes = (field: string, bad: Buffer): Buffer => {
    const json = JSON.stringify(validClaims(ISS_EC, { [field]: '@@' }));
    const at = json.indexOf('@@');
    return Buffer.concat([Buffer.from(json.slice(0, at)), bad, Buffer.from(json.slice(at + 2))]);
  };
  it.each([
    ['lone 0xff', Buffer.from([0xff])],
    ['overlong "/" (c0 af)', Buffer.from([0xc0, 0xaf])],
    ['truncated sequence (c3 28)', Buffer.from([0xc3, 0x28])],
    ['UTF-16 surrogate (ed a0 80)', Buffer.from([0xed, 0xa0, 0x80])],
  ])('%s in a claim, validly signed -> 401', async (_what, bad) => {
    await refused(forge(ecKey, validHeader(ecKey), withBytes('sub', bad)));
  });
  it('invalid UTF-8 in the header, validly signed -> 401', async () => {
    const json = JSON.stringify(validHeader(ecKey, { x: '@@' }));
    const at = json.indexOf('@@');
    const h = Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from([0xff]), Buffer.from(json.slice(at + 2))]).toString('base64url');
    await refused(signSegments(ecKey, 'ES256', h, seg(validClaims(ISS_EC))));
  });
});

describe('J29 nested JWT', () => {
  it('cty JWT on an otherwise valid token -> 401', async () => {
    await refused(forge(ecKey, validHeader(ecKey, { cty: 'JWT' }), validClaims(ISS_EC)));
    await refused(forge(ecKey, validHeader(ecKey, { cty: 'jwt' }), validClaims(ISS_EC)));
  });
  it('a valid inner token wrapped as the payload of a validly signed outer one -> 401', async () => {
    const inner = await validEc({ roles: ['admin'] });
    await refused(forge(ecKey, validHeader(ecKey, { cty: 'JWT' }), inner));
    await refused(forge(ecKey, validHeader(ecKey), inner));
  });
});

describe('J30 JWE', () => {
  it('5-part JWE-looking tokens (RSA-OAEP, PBES2 with a huge p2c, zip) -> 401 fast', async () => {
    const body = [seg('k'.repeat(32)), seg('iv-iv-iv-iv'), seg('ciphertext'), seg('tag-tag-tag-tag')].join('.');
    const started = performance.now();
    await refused(`${seg({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsaKey.kid })}.${body}`);
    await refused(`${seg({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2_000_000_000, p2s: 'c2FsdHNhbHQ' })}.${body}`);
    await refused(`${seg({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}.${body}`);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('J33 size', () => {
  it('a validly signed 8 KB token -> 401 (the same token under the limit is fine)', async () => {
    const small = await validEc({ pad: 'x'.repeat(5000) });
    expect(small.length).toBeLessThan(8192);
    expectAccepted(await send(small));
    const token = await validEc({ pad: 'x'.repeat(6300) });
    expect(token.length).toBeGreaterThan(8192);
    expect(token.length).toBeLessThan(12_000);
    await refused(token);
  });
  it('a token over the header limit -> 431, upstream not called', async () => {
    const token = await validEc({ pad: 'x'.repeat(20_000) });
    const a = await send(token);
    expect(a.status).toBe(431);
    expect(a.reached).toBe(false);
  });
  it('deeply nested claims inside the size limit -> 401 fast, gateway still answers', async () => {
    const deep = `${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}`;
    const claims = validClaims(ISS_EC);
    const payload = `${JSON.stringify(claims).slice(0, -1)},"deep":${deep}}`;
    const started = performance.now();
    // signed by the attacker, so it must fail; the parse must not stall anything
    await refused(forge(attacker, validHeader(ecKey), payload));
    expect(performance.now() - started).toBeLessThan(1000);
    expectAccepted(await send(await validEc()));
  });
});

describe('J12 header fields and claims replaced by other JSON types', () => {
  const junk: unknown[] = [null, true, 0, 'x', {}, []];
  it('header alg / kid / typ (self-issued issuer) -> 401', async () => {
    for (const field of ['alg', 'kid', 'typ']) {
      for (const v of junk) {
        const token = forge(selfKey, validHeader(selfKey, { [field]: v }), validClaims(ISS_SELF), 'ES256');
        const a = await send(token);
        expect(a.status, `${field}=${JSON.stringify(v)}`).toBe(401);
        expectInvalidToken(a);
      }
    }
  });
  it('claims iss / aud / exp / nbf / iat / sub / jti / sid -> 401 (except values that are legitimately valid)', async () => {
    const legit: Record<string, unknown[]> = { sub: ['x'], jti: ['x'], sid: ['x'], nbf: [0], iat: [0] };
    for (const claim of ['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'jti', 'sid']) {
      for (const v of junk) {
        if (legit[claim]?.some((l) => l === v)) continue;
        const a = await send(forge(selfKey, validHeader(selfKey), validClaims(ISS_SELF, { [claim]: v })));
        expect(a.status, `${claim}=${JSON.stringify(v)}`).toBe(401);
        expectInvalidToken(a);
      }
    }
  });
});

describe('unit: preflight and the jose error mapping', () => {
  const invalid = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('invalid_token');
      return (err as GatewayError).reason;
    }
    throw new Error('expected preflight to throw');
  };
  it('refuses shapes, non-canonical segments, embedded keys, nested and refresh tokens before any crypto', async () => {
    const token = await validEc();
    const [h, p, s] = parts(token);
    expect(preflight(token, 8192).header.kid).toBe(ecKey.kid);
    expect(invalid(() => preflight('', 8192))).toBe('malformed');
    expect(invalid(() => preflight(`${h}.${p}`, 8192))).toBe('malformed');
    expect(invalid(() => preflight(`${h}.${p}.${s}=`, 8192))).toBe('malformed');
    expect(invalid(() => preflight(`${h}.${p}.${trailingBitSibling(s) as string}`, 8192))).toBe('bad_signature_encoding');
    expect(invalid(() => preflight(token, token.length - 1))).toBe('token_too_large');
    expect(invalid(() => preflight(withHeader(token, (x) => (x.jwk = attacker.publicJwk)), 8192))).toBe('embedded_key_header');
    expect(invalid(() => preflight(withHeader(token, (x) => (x.cty = 'JWT')), 8192))).toBe('nested_jwt');
    expect(invalid(() => preflight(withHeader(token, (x) => (x.typ = 'refresh+jwt')), 8192))).toBe('refresh_token_as_access');
    expect(invalid(() => preflight(`${h}.${seg('[]')}.${s}`, 8192))).toBe('bad_payload');
    expect(invalid(() => preflight(`${seg('{"kid":"x"}')}.${p}.${s}`, 8192))).toBe('bad_header');
  });
  it('maps every error, jose or not, to invalid_token', () => {
    for (const err of [new Error('boom'), new TypeError('x'), 'string', null, undefined]) {
      const mapped = mapJoseError(err);
      expect(mapped.code).toBe('invalid_token');
      expect(mapped.status).toBe(401);
    }
  });
});

describe('J02 a signature by an unrelated key under the trusted kid', () => {
  it('a token signed by an unrelated RSA key with the trusted kid -> 401', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await refused(forge(privateKey, validHeader(rsaKey), validClaims(ISS_RSA, { roles: ['admin'] })));
  });
});
