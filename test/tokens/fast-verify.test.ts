/**
 * The verifier's synchronous fast path (issue "Hot path per core"), the parts
 * the differential fuzz test (test/fuzz/verify-differential.fuzz.test.ts)
 * does not reach: what verify() returns (a plain value on the fast path and on
 * cache hits, a rejected promise for every refusal), and that the fast path
 * never answers from a remote key set jose has replaced or is replacing (key
 * rotation, background reloads, a fetch in flight), while an unknown kid
 * during jose's cooldown is refused without a fetch, as jose does.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { remoteKeySource, staticKeySource, type KeySource } from '../../src/tokens/jwks.js';
import { Verifier, type IssuerEntry, type VerifiedToken } from '../../src/tokens/verifier.js';
import { forge } from '../helpers/forge.js';
import { sleep } from '../helpers/http.js';

const ISS = 'https://fast.test';
const REMOTE = 'https://remote-fast.test';
const now = () => Math.floor(Date.now() / 1000);
const claims = (iss: string, extra: Record<string, unknown> = {}) => ({
  iss,
  aud: 'api',
  sub: 'alice',
  iat: now(),
  exp: now() + 300,
  jti: Math.random().toString(36),
  ...extra,
});

interface Key {
  kid: string;
  privateKey: KeyObject;
  jwk: JWK;
}
function makeKey(kid: string): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256', use: 'sig' } };
}
const tokenFor = (k: Key, iss: string, extra: Record<string, unknown> = {}) =>
  forge(k.privateKey, { alg: 'ES256', kid: k.kid, typ: 'JWT' }, claims(iss, extra));

const entry = (iss: string, source: KeySource): IssuerEntry => ({
  iss,
  audience: ['api'],
  algorithms: ['ES256'],
  rolesClaim: ['roles'],
  scopeClaim: ['scope'],
  getKey: source.getKey,
  selfIssued: false,
});
const verifierFor = (entries: IssuerEntry[], extra: { fastPath?: boolean; cacheMaxEntries?: number } = {}) =>
  new Verifier({
    issuers: entries,
    clockToleranceMs: 0,
    maxTokenAgeMs: null,
    maxTokenBytes: 8192,
    cacheMaxEntries: extra.cacheMaxEntries ?? 0,
    ...(extra.fastPath === false ? { fastPath: false } : {}),
  });

type Answer = { sync: boolean; ok: true; v: VerifiedToken } | { sync: boolean; ok: false; reason: string };
async function answer(v: Verifier, token: string): Promise<Answer> {
  const r = v.verify(token); // must not throw synchronously
  const sync = !(r instanceof Promise);
  try {
    return { sync, ok: true, v: await r };
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return { sync, ok: false, reason: (err as GatewayError).reason };
  }
}

describe('what verify() returns', () => {
  const key = makeKey('k1');
  const other = makeKey('k1');
  const source = staticKeySource([key.jwk]);
  it('a plain value for a new token on the fast path and for a cache hit; the jose path and every refusal: a promise', async () => {
    const fast = verifierFor([entry(ISS, source)], { cacheMaxEntries: 10 });
    const token = tokenFor(key, ISS);
    const first = fast.verify(token);
    expect(first).not.toBeInstanceOf(Promise);
    expect((first as VerifiedToken).sub).toBe('alice');
    expect(fast.verify(token)).toBe(first); // cache hit
    const slow = verifierFor([entry(ISS, source)], { fastPath: false });
    expect(slow.verify(token)).toBeInstanceOf(Promise);
    for (const [bad, reason] of [
      ['not a token', 'malformed'],
      [tokenFor(other, ISS), 'bad_signature'],
      [tokenFor(key, 'https://nobody.test'), 'unknown_issuer'],
      [tokenFor(key, ISS, { exp: now() - 1 }), 'expired'],
      [tokenFor(key, ISS, { sub: 7 }), 'bad_sub'],
    ] as const) {
      for (const v of [fast, slow]) {
        const a = await answer(v, bad);
        expect(a, bad).toMatchObject({ ok: false, sync: false, reason });
      }
    }
  });
});

describe('remote key sets: the fast path answers only from the set jose is using', () => {
  let server: Server;
  let url = '';
  let served: JWK[] = [];
  let fetches = 0;
  let hold: Promise<void> | null = null;
  const sources: KeySource[] = [];

  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      const body = JSON.stringify({ keys: served });
      void (hold ?? Promise.resolve()).then(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterEach(() => {
    for (const s of sources.splice(0)) s.close();
    hold = null;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function remote(opts: { refreshMs: number; cooldownMs: number }): Promise<KeySource> {
    const source = remoteKeySource(url, { ...opts, timeoutMs: 3000 }, pino({ level: 'silent' }));
    sources.push(source);
    for (let i = 0; i < 300 && !source.ready(); i++) await sleep(10);
    expect(source.ready()).toBe(true);
    return source;
  }

  it('rotation: a new kid goes to jose (one refetch), then is verified synchronously; a kid the new set dropped is refused as jose refuses it', async () => {
    const a = makeKey('a');
    const b = makeKey('b');
    served = [a.jwk];
    const source = await remote({ refreshMs: 3_600_000, cooldownMs: 0 });
    const v = verifierFor([entry(REMOTE, source)]);
    const ref = verifierFor([entry(REMOTE, source)], { fastPath: false });
    expect(await answer(v, tokenFor(a, REMOTE))).toMatchObject({ ok: true, sync: true });

    served = [b.jwk];
    const before = fetches;
    expect(await answer(v, tokenFor(b, REMOTE))).toMatchObject({ ok: true, sync: false }); // unknown kid: jose refetches
    expect(fetches).toBe(before + 1);
    expect(await answer(v, tokenFor(b, REMOTE))).toMatchObject({ ok: true, sync: true }); // the new set, read once
    // the old key is gone from jose's set: never accepted from a stale view
    const old = tokenFor(a, REMOTE);
    const [mine, theirs] = [await answer(v, old), await answer(ref, old)];
    expect(mine).toEqual(theirs);
    expect(mine).toMatchObject({ ok: false, reason: 'unknown_kid' });
  });

  it('a background reload that replaces the set between two tokens is noticed (the fetch count moved)', async () => {
    const a = makeKey('bg-a');
    const c = makeKey('bg-c');
    served = [a.jwk];
    const source = await remote({ refreshMs: 1000, cooldownMs: 60_000 });
    const v = verifierFor([entry(REMOTE, source)]);
    expect(await answer(v, tokenFor(a, REMOTE))).toMatchObject({ ok: true, sync: true });
    served = [c.jwk];
    const before = fetches;
    for (let i = 0; i < 300 && fetches === before; i++) await sleep(10);
    await sleep(50); // the response applied
    // no request saw the reload happen; the next one must still not use key a
    const stale = await answer(v, tokenFor(a, REMOTE));
    expect(stale).toMatchObject({ ok: false, reason: 'unknown_kid', sync: false });
    expect(await answer(v, tokenFor(c, REMOTE))).toMatchObject({ ok: true, sync: true });
  });

  it('while a fetch is in flight the fast path stands aside (jose still answers from its current set), and the set that fetch brings is the one used after', async () => {
    const a = makeKey('fl-a');
    const n = makeKey('fl-new');
    served = [a.jwk];
    const source = await remote({ refreshMs: 3_600_000, cooldownMs: 0 });
    const v = verifierFor([entry(REMOTE, source)]);
    expect(await answer(v, tokenFor(a, REMOTE))).toMatchObject({ ok: true, sync: true });
    let release = () => {};
    hold = new Promise<void>((resolve) => (release = resolve));
    served = [n.jwk]; // a rotated out
    const pending = answer(v, tokenFor(n, REMOTE)); // unknown kid: jose starts a fetch that hangs
    await sleep(50);
    expect(await answer(v, tokenFor(a, REMOTE))).toMatchObject({ ok: true, sync: false });
    release();
    expect(await pending).toMatchObject({ ok: true, sync: false });
    expect(await answer(v, tokenFor(n, REMOTE))).toMatchObject({ ok: true, sync: true });
    expect(await answer(v, tokenFor(a, REMOTE))).toMatchObject({ ok: false, reason: 'unknown_kid' });
  });

  it('an unknown kid within the cooldown is refused without a fetch, with the reason jose gives', async () => {
    const a = makeKey('cd-a');
    served = [a.jwk];
    const source = await remote({ refreshMs: 3_600_000, cooldownMs: 60_000 });
    const v = verifierFor([entry(REMOTE, source)]);
    const ref = verifierFor([entry(REMOTE, source)], { fastPath: false });
    const before = fetches;
    for (let i = 0; i < 20; i++) {
      const token = forge(a.privateKey, { alg: 'ES256', kid: `random-${i}`, typ: 'JWT' }, claims(REMOTE));
      expect(await answer(v, token)).toEqual(await answer(ref, token));
      expect(await answer(v, token)).toMatchObject({ ok: false, reason: 'unknown_kid', sync: false });
    }
    expect(fetches).toBe(before);
  });
});
