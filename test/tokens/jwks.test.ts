/**
 * Remote key sets (SPEC §2 jwksUri; SECURITY.md J13, J37, F07-F10) against a
 * real loopback JWKS server the test controls: outages and garbage never
 * cost the keys already loaded, unknown kids fail fast and cannot make the
 * gateway hammer the IdP, rotation costs exactly one refetch, a cold start
 * without the IdP only affects that issuer, hostile keys are ignored.
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saneJwks } from '../../src/tokens/jwks.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectAccepted, expectInvalidToken, forge, probe, sleep, validClaims, validHeader, type Answer } from './forge.js';

type Mode = 'ok' | 'status500' | 'html' | 'emptyObject' | 'emptyKeys' | 'redirect' | 'hugeDeclared' | 'hugeChunked' | 'hang';

interface JwksServer {
  url: string;
  port: number;
  mode: Mode;
  /** what GET /jwks serves in mode ok */
  body: () => unknown;
  /** GET /jwks requests received */
  fetches: number;
  /** every path requested, in order */
  paths: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

const TEN_MB = 10 * 1024 * 1024;

async function startJwks(body: () => unknown, port = 0): Promise<JwksServer> {
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let server: Server | null = null;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    res.on('error', () => {});
    const path = req.url ?? '';
    s.paths.push(path);
    if (path === '/evil') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(evilJwks));
      return;
    }
    if (path !== '/jwks') {
      res.writeHead(404);
      res.end();
      return;
    }
    s.fetches++;
    switch (s.mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(s.body()));
        return;
      case 'status500':
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(s.body()));
        return;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body><h1>Service Unavailable</h1></body></html>');
        return;
      case 'emptyObject':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
        return;
      case 'emptyKeys':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"keys":[]}');
        return;
      case 'redirect':
        res.writeHead(302, { location: '/evil' });
        res.end();
        return;
      case 'hugeDeclared': {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': TEN_MB });
        res.end(Buffer.alloc(TEN_MB, 0x20));
        return;
      }
      case 'hugeChunked': {
        // no content-length: the cap has to hold while streaming
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        res.write('{"keys":[');
        for (let i = 0; i < 10; i++) res.write(chunk);
        res.end(']}');
        return;
      }
      case 'hang':
        hanging.add(res);
        return;
    }
  };
  const s: JwksServer = {
    url: '',
    port,
    mode: 'ok',
    body,
    fetches: 0,
    paths: [],
    async start() {
      server = createServer(handle);
      server.on('connection', (c: Socket) => {
        sockets.add(c);
        c.once('close', () => sockets.delete(c));
      });
      await new Promise<void>((resolve) => server!.listen(s.port, '127.0.0.1', () => resolve()));
      s.port = (server.address() as AddressInfo).port;
      s.url = `http://127.0.0.1:${s.port}`;
    },
    async stop() {
      for (const r of hanging) r.destroy();
      hanging.clear();
      const srv = server;
      server = null;
      if (!srv) return;
      for (const c of sockets) c.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
  await s.start();
  return s;
}

let evilJwks: { keys: JWK[] } = { keys: [] };
let up: TestUpstream;
let attacker: TestKey;
const servers: JwksServer[] = [];
const gateways: TestGateway[] = [];

beforeAll(async () => {
  up = await startUpstream();
  attacker = await makeKey('ES256', 'attacker-kid');
  evilJwks = { keys: [attacker.publicJwk] };
});

afterAll(async () => {
  for (const gw of gateways) await gw.stop();
  for (const s of servers) await s.stop();
  await up?.close();
});

async function jwksServer(body: () => unknown, port = 0): Promise<JwksServer> {
  const s = await startJwks(body, port);
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

describe('outages and garbage: cached keys keep working (F07-F09)', () => {
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

  it.each<[Mode, string]>([
    ['status500', 'HTTP 500'],
    ['html', 'an HTML error page'],
    ['emptyObject', '{}'],
    ['emptyKeys', '{"keys":[]} (an empty set must not wipe the cached keys)'],
    ['hugeDeclared', 'a declared 10 MB body'],
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

describe('J13 a flood of random kids', () => {
  const ISS = 'https://idp-flood.test';
  const COOLDOWN = 1000;
  let good: TestKey;
  let jw: JwksServer;
  let gw: TestGateway;

  beforeAll(async () => {
    good = await makeKey('ES256', 'flood-good');
    jw = await jwksServer(() => ({ keys: [good.publicJwk] }));
    gw = await gateway({ trustedIssuers: [issuerEntry(ISS, jw, { jwksCooldown: '1s' })] });
    await waitReady(gw);
  });

  it('200 random kids -> all 401; the JWKS server sees at most one extra fetch per cooldown', async () => {
    // let the cooldown after the start-up fetch pass, so the flood is allowed exactly one refetch
    await sleep(COOLDOWN + 50);
    const tokens = Array.from({ length: 200 }, () => forge(attacker, validHeader(attacker, { kid: `rand-${randomBytes(8).toString('hex')}` }), validClaims(ISS)));
    const before = jw.fetches;
    const started = performance.now();
    const answers: Answer[] = [];
    for (let batch = 0; batch < 4; batch++) {
      answers.push(...(await Promise.all(tokens.slice(batch * 50, batch * 50 + 50).map((t) => probe(gw.url, up, t)))));
    }
    const genuine = await probe(gw.url, up, await signToken(good, {}, { iss: ISS }));
    const elapsed = performance.now() - started;
    for (const a of answers) expectInvalidToken(a);
    expectAccepted(genuine);
    const extra = jw.fetches - before;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(1 + Math.floor(elapsed / COOLDOWN));
  });
});

describe('F10 cold start with the JWKS unreachable', () => {
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
      trustedIssuers: [{ iss: ISS_COLD, jwksUri: `http://127.0.0.1:${port}/jwks`, audience: 'api', algorithms: ['ES256'], jwksCooldown: '300ms', jwksTimeout: '1s' }],
    });
    await waitReady(gw, 503);
  });

  it('that issuer -> 401, self-issued -> 200, /readyz 503 naming the issuer, /healthz 200', async () => {
    const a = await probe(gw.url, up, await signToken(cold, {}, { iss: ISS_COLD }));
    expectInvalidToken(a);
    expect(a.ms).toBeLessThan(1500);
    expectAccepted(await probe(gw.url, up, await signToken(self, {}, { iss: ISS_SELF })));
    const r = await readyz(gw);
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('not_ready');
    expect(r.body.reasons?.some((why) => why.includes(ISS_COLD))).toBe(true);
    expect(r.body.reasons?.some((why) => why.includes(ISS_SELF))).toBe(false);
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
  });

  it('recovers once the JWKS comes up: the issuer verifies and /readyz turns 200', async () => {
    await jwksServer(() => ({ keys: [cold.publicJwk] }), port);
    await sleep(350);
    expectAccepted(await probe(gw.url, up, await signToken(cold, {}, { iss: ISS_COLD })));
    expect((await readyz(gw)).status).toBe(200);
  });
});

describe('J37 hostile JWKS entries are ignored, good keys keep working', () => {
  const ISS = 'https://idp-hostile.test';
  let good: TestKey;
  let gw: TestGateway;
  let jw: JwksServer;
  const signers: Record<string, { key: KeyObject | TestKey; alg: string }> = {};

  beforeAll(async () => {
    good = await makeKey('ES256', 'good');
    const jwkOf = (k: KeyObject): JWK => k.export({ format: 'jwk' }) as JWK;
    const enc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const dupA = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const dupB = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    signers.enc = { key: enc.privateKey, alg: 'ES256' };
    signers.rsa1024 = { key: rsa1024.privateKey, alg: 'RS256' };
    signers.dup = { key: dupA.privateKey, alg: 'ES256' };
    signers.k1 = { key: k1.privateKey, alg: 'ES256' };
    signers.priv = { key: priv.privateKey, alg: 'ES256' };
    const keys: unknown[] = [
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
      good.publicJwk,
    ];
    jw = await jwksServer(() => ({ keys }));
    gw = await gateway({ trustedIssuers: [issuerEntry(ISS, jw)] });
    await waitReady(gw);
  });

  it('the good key verifies and the issuer is ready', async () => {
    expectAccepted(await probe(gw.url, up, await signToken(good, {}, { iss: ISS })));
    expect((await readyz(gw)).status).toBe(200);
  });

  it.each(['enc', 'rsa1024', 'dup', 'k1', 'priv'])('a token signed with the hostile key %s -> 401', async (kid) => {
    const { key, alg } = signers[kid]!;
    const a = await probe(gw.url, up, forge(key, { alg, kid, typ: 'at+jwt' }, validClaims(ISS, { roles: ['admin'] })));
    expectInvalidToken(a);
  });

  it('a published key that cannot be imported (kid "broken") -> 401, never 500', async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectInvalidToken(await probe(gw.url, up, forge(kp.privateKey, { alg: 'ES256', kid: 'broken', typ: 'at+jwt' }, validClaims(ISS))));
    expectAccepted(await probe(gw.url, up, await signToken(good, {}, { iss: ISS })));
  });

  it('a token without kid signed by a hostile key -> 401', async () => {
    for (const kid of ['enc', 'dup', 'priv']) {
      const { key, alg } = signers[kid]!;
      expectInvalidToken(await probe(gw.url, up, forge(key, { alg, typ: 'at+jwt' }, validClaims(ISS))));
    }
  });

  it('the second key published under the duplicate kid is refused too', async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    // an unrelated key under "dup": still 401, and so is each published one (ambiguous kid)
    expectInvalidToken(await probe(gw.url, up, forge(kp.privateKey, { alg: 'ES256', kid: 'dup', typ: 'at+jwt' }, validClaims(ISS))));
  });

  it('HS256 with the published oct key as secret -> 401', async () => {
    const { createHmac } = await import('node:crypto');
    const oct = (jw.body() as { keys: Array<{ kid?: string; k?: string }> }).keys.find((k) => k?.kid === 'oct')!;
    const h = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'oct', typ: 'at+jwt' })).toString('base64url');
    const p = Buffer.from(JSON.stringify(validClaims(ISS))).toString('base64url');
    const sig = createHmac('sha256', Buffer.from(oct.k as string, 'base64url')).update(`${h}.${p}`).digest('base64url');
    expectInvalidToken(await probe(gw.url, up, `${h}.${p}.${sig}`));
  });

  it('the gateway says which keys it ignored (encryption keys, normal in an IdP\'s JWKS, only at debug level)', () => {
    const messages = gw.logs.lines.map((l) => String(l.msg));
    for (const kid of ['oct', 'rsa1024', 'dup', 'k1', 'priv']) expect(messages.some((m) => m.startsWith(`ignoring JWKS key "${kid}"`))).toBe(true);
    expect(messages.some((m) => m.startsWith('ignoring JWKS key "enc"'))).toBe(false);
  });
});

describe('unit: saneJwks', () => {
  it('keeps usable public signing keys and drops the rest', async () => {
    const good = await makeKey('ES256', 'g');
    const rsa = await makeKey('RS256', 'r');
    const ed = await makeKey('EdDSA', 'e');
    const logged: string[] = [];
    const out = saneJwks(
      {
        keys: [
          good.publicJwk,
          rsa.publicJwk,
          ed.publicJwk,
          good.privateJwk,
          { ...good.publicJwk, kid: 'enc', use: 'enc' },
          { kty: 'oct', k: 'AAAA', kid: 'o' },
          { ...rsa.publicJwk, kid: 'short', n: Buffer.alloc(128, 0xff).toString('base64url') },
          { ...good.publicJwk, kid: 'curve', crv: 'P-192' },
          { ...ed.publicJwk, kid: 'x448', crv: 'Ed448' },
        ],
      },
      (m) => logged.push(m),
    );
    expect(out.keys.map((k) => k.kid)).toEqual(['r', 'e']);
    // the private copy of "g" made its kid ambiguous: both copies are dropped
    expect(logged.some((m) => m.includes('"g"'))).toBe(true);
    expect(logged).toHaveLength(7);
  });
  it('throws on bodies that are not a key set', () => {
    for (const body of [null, {}, [], 'x', { keys: {} }, { keys: 'a' }]) expect(() => saneJwks(body, () => {})).toThrow();
  });
});
