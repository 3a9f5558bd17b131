/**
 * Remote key sets (SPEC §2 jwksUri) against a real loopback JWKS server the
 * test controls, for what SECURITY.md J13, J37 and F07-F10 (test/security/)
 * leave out: an empty or streamed oversized key set never costs the keys
 * already loaded, a redirect to an attacker's key set is not followed, a
 * stopped or hanging server only costs unknown kids, rotation costs exactly
 * one refetch, and an issuer unreachable at start-up recovers.
 */
import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccepted, expectInvalidToken } from '../helpers/expect.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { probe, sleep, type Answer } from '../helpers/http.js';
import { startJwks, type JwksMode, type JwksServer } from '../helpers/jwks.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';

let up: TestUpstream;
let attacker: TestKey;
const servers: JwksServer[] = [];
const gateways: TestGateway[] = [];

beforeAll(async () => {
  up = await startUpstream();
  attacker = await makeKey('ES256', 'attacker-kid');
});

afterAll(async () => {
  for (const gw of gateways) await gw.stop();
  for (const s of servers) await s.stop();
  await up?.close();
});

async function jwksServer(body: () => unknown, port = 0): Promise<JwksServer> {
  const s = await startJwks(body, { port, evil: () => ({ keys: [attacker.publicJwk] }) });
  servers.push(s);
  return s;
}

async function gateway(raw: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway({ routes: [{ match: { path: '/api/**' }, upstream: up.url }], ...raw });
  gateways.push(gw);
  return gw;
}

async function readyz(gw: TestGateway): Promise<{ status: number; body: { status?: string; reasons?: string[] } }> {
  const res = await fetch(`${gw.adminUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as { status?: string; reasons?: string[] } };
}

async function waitReady(gw: TestGateway, want = 200): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await readyz(gw)).status === want) return;
    await sleep(20);
  }
  throw new Error(`gateway never reached /readyz ${want}`);
}

const issuerEntry = (iss: string, s: JwksServer, extra: Record<string, unknown> = {}) => ({
  iss,
  jwksUri: `${s.url}/jwks`,
  audience: 'api',
  algorithms: ['ES256', 'RS256'],
  ...extra,
});

describe('outages and garbage beyond SECURITY.md F07-F09: cached keys keep working', () => {
  const ISS = 'https://idp-outage.test';
  const COOLDOWN = 200;
  let k1: TestKey;
  let jw: JwksServer;
  let gw: TestGateway;
  const published: JWK[] = [];
  const send = async (k: TestKey): Promise<Answer> => probe(gw.url, up, await signToken(k, {}, { iss: ISS }));
  const unknownKid = async (): Promise<Answer> => probe(gw.url, up, await signToken(await makeKey('ES256', `unknown-${randomUUID()}`), {}, { iss: ISS }));

  beforeAll(async () => {
    k1 = await makeKey('ES256', 'outage-k1');
    published.push(k1.publicJwk);
    jw = await jwksServer(() => ({ keys: published }));
    gw = await gateway({ trustedIssuers: [issuerEntry(ISS, jw, { jwksCooldown: `${COOLDOWN}ms`, jwksTimeout: '1s' })] });
    await waitReady(gw);
  });

  it('tokens verify through jwksUri', async () => {
    expectAccepted(await send(k1));
    expect(jw.fetches).toBe(1);
  });

  // HTTP 500, HTML, {}, a declared 10 MB body, a redirect and a hang are the catalogue's (test/security/failure.test.ts F07-F09)
  it.each<[JwksMode, string]>([
    ['emptyKeys', '{"keys":[]} (an empty set must not wipe the cached keys)'],
    ['hugeChunked', 'a streamed 10 MB body'],
  ])('JWKS answers %s (%s): unknown kid -> 401 quickly, cached key -> 200', async (mode) => {
    jw.mode = mode;
    await sleep(COOLDOWN + 50);
    const before = jw.fetches;
    const a = await unknownKid();
    expectInvalidToken(a);
    expect(a.ms).toBeLessThan(1500);
    expect(jw.fetches).toBe(before + 1);
    expectAccepted(await send(k1));
    jw.mode = 'ok';
  });

  it('JWKS redirects to a key set holding the attacker key: not followed, attacker token -> 401', async () => {
    jw.mode = 'redirect';
    await sleep(COOLDOWN + 50);
    const before = jw.fetches;
    const a = await probe(gw.url, up, await signToken(attacker, { roles: ['admin'] }, { iss: ISS }));
    expectInvalidToken(a);
    expect(jw.fetches).toBe(before + 1);
    expect(jw.paths).not.toContain('/evil');
    expectAccepted(await send(k1));
    jw.mode = 'ok';
  });

  it('JWKS server stopped: unknown kid -> 401 quickly, cached key -> 200', async () => {
    await jw.stop();
    try {
      await sleep(COOLDOWN + 50);
      const a = await unknownKid();
      expectInvalidToken(a);
      expect(a.ms).toBeLessThan(1500);
      expectAccepted(await send(k1));
      expect((await readyz(gw)).status).toBe(200);
    } finally {
      await jw.start();
    }
  });

  it('JWKS hangs: unknown kids wait at most the timeout and share one fetch; cached key answers at once', async () => {
    jw.mode = 'hang';
    await sleep(COOLDOWN + 50);
    const before = jw.fetches;
    const pending = Promise.all(Array.from({ length: 20 }, () => unknownKid()));
    await sleep(100);
    const cached = await send(k1);
    expectAccepted(cached);
    expect(cached.ms).toBeLessThan(500);
    const answers = await pending;
    for (const a of answers) {
      expectInvalidToken(a);
      expect(a.ms).toBeLessThan(2500);
    }
    expect(jw.fetches).toBe(before + 1);
    jw.mode = 'ok';
    await jw.stop();
    await jw.start();
  });

  it('rotation: a new kid at the JWKS server costs exactly one refetch, then verifies from cache', async () => {
    const k2 = await makeKey('ES256', 'outage-k2');
    published.push(k2.publicJwk);
    await sleep(COOLDOWN + 50);
    const before = jw.fetches;
    expectAccepted(await send(k2));
    expect(jw.fetches).toBe(before + 1);
    expectAccepted(await send(k2));
    expectAccepted(await send(k1));
    expect(jw.fetches).toBe(before + 1);
  });
});

describe('cold start with the JWKS unreachable, then recovery (beyond SECURITY.md F10)', () => {
  const ISS_COLD = 'https://idp-cold.test';
  const ISS_SELF = 'https://gatehouse-cold.test';
  let cold: TestKey;
  let self: TestKey;
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    [cold, self] = await Promise.all([makeKey('ES256', 'cold-1'), makeKey('ES256', 'self-cold-1')]);
    port = await deadPort();
    gw = await gateway({
      issuer: { iss: ISS_SELF, audience: 'api', signingKeys: [{ file: writeJwkFile(self.privateJwk) }] },
      trustedIssuers: [
        { iss: ISS_COLD, jwksUri: `http://127.0.0.1:${port}/jwks`, audience: 'api', algorithms: ['ES256'], jwksCooldown: '300ms', jwksTimeout: '1s' },
      ],
    });
    await waitReady(gw, 503);
  });

  it('recovers once the JWKS comes up: the issuer verifies and /readyz turns 200', async () => {
    expectInvalidToken(await probe(gw.url, up, await signToken(cold, {}, { iss: ISS_COLD })));
    await jwksServer(() => ({ keys: [cold.publicJwk] }), port);
    await sleep(350);
    expectAccepted(await probe(gw.url, up, await signToken(cold, {}, { iss: ISS_COLD })));
    expect((await readyz(gw)).status).toBe(200);
  });
});
