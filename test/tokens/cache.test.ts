/**
 * The verified-token cache (SPEC §5.4, SECURITY.md J35, J38): a cached token
 * dies at its exp and the moment it is revoked; two tokens never share an
 * entry; hits and misses are visible on the admin /metrics. Real time, no
 * fake timers, clockTolerance 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, parts, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectAccepted, expectError, expectInvalidToken } from '../helpers/expect.js';
import { forge, trailingBitSibling, validClaims, validHeader } from '../helpers/forge.js';
import { metricValue, probe, sleep, type Answer } from '../helpers/http.js';

const ISS = 'https://idp-cache.test';
let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  key = await makeKey('ES256', 'cache-1');
  up = await startUpstream();
  g = await startGateway({
    trustedIssuers: [{ iss: ISS, keys: [{ file: writeJwkFile(key.publicJwk) }], audience: 'api', algorithms: ['ES256'] }],
    verify: { clockTolerance: 0 },
    routes: [{ match: { path: '/api/**' }, upstream: up.url }],
  });
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

const send = (token: string): Promise<Answer> => probe(g.url, up, token);
const lastUser = () => up.seen.at(-1)?.headers['x-user-id'];

async function cacheCounts(): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${g.adminUrl}/metrics`)).text();
  return { hit: metricValue(text, 'gatehouse_token_cache_total', 'result="hit"'), miss: metricValue(text, 'gatehouse_token_cache_total', 'result="miss"') };
}

async function revoke(body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${g.adminUrl}/admin/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(204);
}

function expectRevoked(a: Answer): void {
  expectInvalidToken(a);
  expect(String(a.body.error_description)).toMatch(/revoked/i);
  expect(a.headers.get('www-authenticate')).toMatch(/error_description="[^"]*revoked[^"]*"/i);
}

describe('expiry', () => {
  it('a token with a 2 s lifetime is accepted (then served from cache) and refused once it expires', async () => {
    const token = await signToken(key, {}, { iss: ISS, ttl: 2 });
    const exp = JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString('utf8')).exp as number;
    const c0 = await cacheCounts();
    expectAccepted(await send(token));
    expectAccepted(await send(token));
    const c1 = await cacheCounts();
    expect(c1.miss - c0.miss).toBe(1);
    expect(c1.hit - c0.hit).toBe(1);
    const wait = exp * 1000 - Date.now() + 50;
    expect(wait).toBeLessThan(2100);
    await sleep(wait);
    const a = await send(token);
    expectInvalidToken(a);
    expect(String(a.body.error_description)).toMatch(/expired/i);
    // and it stays refused: the expired token was not put back into the cache
    expectInvalidToken(await send(token));
    const c2 = await cacheCounts();
    expect(c2.hit - c1.hit).toBe(0);
  });
});

describe('verify.maxTokenAge', () => {
  let aged: TestGateway;
  beforeAll(async () => {
    aged = await startGateway({
      trustedIssuers: [{ iss: ISS, keys: [{ file: writeJwkFile(key.publicJwk) }], audience: 'api', algorithms: ['ES256'] }],
      verify: { clockTolerance: 0, maxTokenAge: '1s' },
      routes: [{ match: { path: '/api/**' }, upstream: up.url }],
    });
  });
  afterAll(async () => {
    await aged?.stop();
  });
  it('a cached token is refused once it is older than maxTokenAge, although its exp is far away', async () => {
    // start early in a second so the first two requests see the same clock second as the signature
    const ms = Date.now() % 1000;
    if (ms > 600) await sleep(1005 - ms);
    const t = Math.floor(Date.now() / 1000);
    // age 1 s now (accepted: not more than maxTokenAge), 2 s from the next second on
    const token = await signToken(key, {}, { iss: ISS, iat: t - 1, ttl: 3600 });
    expectAccepted(await probe(aged.url, up, token));
    expectAccepted(await probe(aged.url, up, token));
    while (Math.floor(Date.now() / 1000) <= t) await sleep(25);
    // an uncached token of the same age is refused now; the cached one must be too
    expectInvalidToken(await probe(aged.url, up, await signToken(key, {}, { iss: ISS, iat: t - 1, ttl: 3600 })));
    expectInvalidToken(await probe(aged.url, up, token));
  });
});

describe('entries', () => {
  it('two tokens never share an entry: each request is answered with its own token identity', async () => {
    const alice = await signToken(key, {}, { iss: ISS, sub: 'alice' });
    const bob = await signToken(key, {}, { iss: ISS, sub: 'bob' });
    const c0 = await cacheCounts();
    for (const [token, who] of [
      [alice, 'alice'],
      [bob, 'bob'],
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      expectAccepted(await send(token));
      expect(lastUser()).toBe(who);
    }
    const c1 = await cacheCounts();
    expect(c1.miss - c0.miss).toBe(2);
    expect(c1.hit - c0.hit).toBe(2);
  });
  it('tokens with the same claims but different signatures are separate entries; a forged one stays refused', async () => {
    const claims = validClaims(ISS, { sub: 'carol' });
    const a = forge(key, validHeader(key), claims);
    const b = forge(key, validHeader(key), claims); // ECDSA: same content, fresh signature
    expect(a).not.toBe(b);
    expectAccepted(await send(a));
    expectAccepted(await send(b));
    const [h, p, s] = parts(a);
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expectInvalidToken(await send(flipped), []);
    expectInvalidToken(await send(`${h}.${p}.${trailingBitSibling(s) as string}`), []);
  });
  it("a token that carries a cached token's signature (the cache's key) under other claims is refused, and the cached token still hits", async () => {
    const dave = forge(key, validHeader(key), validClaims(ISS, { sub: 'dave' }));
    expectAccepted(await send(dave));
    const [h, , s] = parts(dave);
    // same header and signature, so the same last characters: only the payload differs
    const mallory = `${h}.${Buffer.from(JSON.stringify(validClaims(ISS, { sub: 'mallory' }))).toString('base64url')}.${s}`;
    const c0 = await cacheCounts();
    const seen = up.seen.length;
    const refused = expectInvalidToken(await send(mallory), ['mallory']);
    expect(refused.error_description).toBeDefined();
    expect(up.seen.length).toBe(seen);
    const c1 = await cacheCounts();
    expect(c1.miss - c0.miss).toBe(1);
    expect(c1.hit - c0.hit).toBe(0);
    // the forgery did not displace or change dave's entry
    expectAccepted(await send(dave));
    expect(lastUser()).toBe('dave');
    const c2 = await cacheCounts();
    expect(c2.hit - c1.hit).toBe(1);
  });
  it('a cached token is still found in an Authorization header of any scheme case, and a header around it that is not "Bearer <token>" is still 400', async () => {
    const erin = forge(key, validHeader(key), validClaims(ISS, { sub: 'erin' }));
    expectAccepted(await send(erin));
    const c0 = await cacheCounts();
    expectAccepted(await probe(g.url, up, null, { authorization: `bEaReR ${erin}` }));
    expect(lastUser()).toBe('erin');
    expect((await cacheCounts()).hit - c0.hit).toBe(1);
    for (const authorization of [`Bearer  ${erin}`, `Bearer\t${erin}`, `Bearer ${erin} x`, `Bearer ${erin},${erin}`]) {
      const a = await probe(g.url, up, null, { authorization });
      expectError(a, 400, 'invalid_request');
      expect(a.reached, authorization).toBe(false);
    }
    // no space after the scheme
    const a = await probe(g.url, up, null, { authorization: `Bearer${erin}` });
    expectError(a, 400, 'invalid_request');
    expect(a.reached).toBe(false);
  });
  it('the admin /metrics exposes hits and misses', async () => {
    const text = await (await fetch(`${g.adminUrl}/metrics`)).text();
    expect(text).toMatch(/^gatehouse_token_cache_total\{result="hit"\} \d+$/m);
    expect(text).toMatch(/^gatehouse_token_cache_total\{result="miss"\} \d+$/m);
  });
});

describe('revocation of cached tokens', () => {
  it('POST /admin/revoke {jti, exp}: the cached token -> 401 revoked; its re-encoding too; other tokens unaffected', async () => {
    const token = await signToken(key, {}, { iss: ISS, sub: 'dave' });
    const other = await signToken(key, {}, { iss: ISS, sub: 'dave' });
    const { jti, exp } = JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString('utf8')) as { jti: string; exp: number };
    expectAccepted(await send(token));
    expectAccepted(await send(token));
    await revoke({ jti, exp });
    expectRevoked(await send(token));
    const [h, p, s] = parts(token);
    expectInvalidToken(await send(`${h}.${p}.${trailingBitSibling(s) as string}`), []);
    expectAccepted(await send(other));
  });

  it("POST /admin/revoke {sub}: that subject's tokens issued before now -> 401, later ones and other subjects -> 200", async () => {
    const old = await signToken(key, {}, { iss: ISS, sub: 'erin', iat: Math.floor(Date.now() / 1000) - 10 });
    const noIat = forge(key, validHeader(key), validClaims(ISS, { sub: 'erin', iat: undefined }));
    const frank = await signToken(key, {}, { iss: ISS, sub: 'frank', iat: Math.floor(Date.now() / 1000) - 10 });
    expectAccepted(await send(old));
    expectAccepted(await send(noIat));
    expectAccepted(await send(frank));
    await revoke({ sub: 'erin' });
    const revokedAt = Math.floor(Date.now() / 1000);
    expectRevoked(await send(old));
    // without iat a token cannot show it is newer than the cut-off: fail closed
    expectRevoked(await send(noIat));
    expectAccepted(await send(frank));
    expect(lastUser()).toBe('frank');
    // a token issued in a later second than the revocation is good
    while (Math.floor(Date.now() / 1000) <= revokedAt) await sleep(25);
    const fresh = await signToken(key, {}, { iss: ISS, sub: 'erin' });
    expectAccepted(await send(fresh));
    expect(lastUser()).toBe('erin');
  });

  it('POST /admin/revoke {token}: that token -> 401 revoked', async () => {
    const token = await signToken(key, {}, { iss: ISS, sub: 'gina' });
    expectAccepted(await send(token));
    await revoke({ token });
    expectRevoked(await send(token));
  });
});
