/**
 * SECURITY.md §4, failure modes F01-F13, against real components only: a real
 * redis-server (SIGKILLed, restarted with its AOF, stalled with DEBUG SLEEP),
 * a loopback JWKS server this file controls, real upstreams (an HTTP server
 * that never answers, a raw TCP server that answers with broken HTTP), and
 * the built CLI for the start-up refusals. Every case starts from a request
 * proven to succeed, then breaks one component.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Gateway } from '../../src/gateway/gateway.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observe/log.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { CHALLENGE_401, expectError, expectNotLogged } from '../helpers/expect.js';
import { configFrom, LogCapture, startGateway, type TestGateway } from '../helpers/gateway.js';
import { postJson, request, sleep, type Reply } from '../helpers/http.js';
import { ISS, claimsOf, expectTokens, login, refresh, type TokenResponse } from '../helpers/issuer.js';
import { startJwks, type JwksServer } from '../helpers/jwks.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { accessToken, adminRevoke, debugCommandArgs, gatewayRaw, issuerFiles, pollUntil, rawRedis, type IssuerFiles } from '../store/support.js';

const PREFIX = `gh-sec-failure-${process.pid}:`;
const USER = 'alice@example.com';
const PW = 'alice-correct-horse';
const IDENTITY_HEADERS = ['x-user-id', 'x-user-roles', 'x-user-scopes'];

let redis: TestRedis;
let files: IssuerFiles;
let up: TestUpstream;
/** Redis store, onStoreError: deny (the default) */
let D: TestGateway;
const gateways: TestGateway[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

async function gateway(raw: Record<string, unknown>): Promise<TestGateway> {
  const g = await startGateway(raw);
  gateways.push(g);
  return g;
}

const api = (g: TestGateway, token: string, path = '/api/orders') => request(g.url, path, { token });
const pub = (g: TestGateway) => request(g.url, '/public/hello');
const logout = (g: TestGateway, t: TokenResponse): Promise<Reply> => postJson(g.url, '/auth/logout', {}, { authorization: `Bearer ${t.access_token}` });

/** The gateway's one log line for a request id. */
function logLine(g: TestGateway, reqId: string): Record<string, unknown> | undefined {
  return g.logs.lines.find((l) => l.reqId === reqId && l.msg === 'request');
}

/** A protected request that must not reach the upstream: sends it on a path only it uses. */
async function apiUnreached(g: TestGateway, token: string): Promise<{ reply: Reply; reached: boolean }> {
  const id = crypto.randomUUID();
  const reply = await api(g, token, `/api/${id}`);
  return { reply, reached: up.seen.some((s) => s.url.includes(id)) };
}

/** SPEC §5: 503 temporarily_unavailable with Retry-After, no challenge, logged with the store reason, no token in the logs. */
function expectUnavailable(g: TestGateway, r: Reply, token?: string): void {
  const body = expectError(r, 503, 'temporarily_unavailable');
  expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(r.headers.get('www-authenticate')).toBeNull();
  for (const h of IDENTITY_HEADERS) expect(r.headers.get(h)).toBeNull();
  const line = logLine(g, body.request_id);
  expect(line?.status).toBe(503);
  expect(typeof line?.reason).toBe('string');
  if (token) expectNotLogged(g.logs, token);
}

beforeAll(async () => {
  [redis, files, up] = await Promise.all([startRedis(debugCommandArgs()), issuerFiles({ [USER]: PW }), startUpstream()]);
  D = await gateway({
    ...gatewayRaw({
      files,
      upstream: up.url,
      redis: { url: redis.url, keyPrefix: PREFIX, commandTimeout: '300ms' },
      throttle: { perUser: 3, perIp: 100, window: '15m' },
    }),
  });
});

afterAll(async () => {
  for (const g of gateways) await g.stop().catch(() => {});
  for (const c of cleanups.reverse()) await c();
  await up?.close();
  await redis?.stop();
  files?.cleanup();
});

// ---------------------------------------------------------------------------
describe('Redis down, restarted, stalled (F01-F06)', () => {
  let valid: string;
  let revoked: string;
  let session: TokenResponse;
  let outageSession: TokenResponse;

  beforeAll(async () => {
    valid = await accessToken(files, 'f-valid');
    const jti = crypto.randomUUID();
    revoked = await accessToken(files, 'f-revoked', jti);
    session = await login(D.url, USER, PW);
    outageSession = await login(D.url, USER, PW);
    // F06: recorded before the restart
    expect((await adminRevoke(D, { jti, exp: claimsOf(revoked).exp })).status).toBe(204);
    // the valid requests succeed while Redis is up
    const ok = await apiUnreached(D, valid);
    expect(ok.reply.status).toBe(200);
    expect(ok.reached).toBe(true);
    expect((await pub(D)).status).toBe(200);
    expectError(await api(D, revoked), 401, 'invalid_token');
    await redis.kill();
    await pollUntil(
      () => api(D, valid),
      (r) => r.status === 503,
      { withinMs: 3000, everyMs: 25, what: 'deny gateway noticing the kill' },
    );
  });

  it('F01 Redis down: protected -> 503 + Retry-After (never 200, never 401, upstream not called); public -> 200', async () => {
    for (const t of [valid, revoked, session.access_token]) {
      const { reply, reached } = await apiUnreached(D, t);
      expectUnavailable(D, reply, t);
      expect(reached).toBe(false);
    }
    const r = await pub(D);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-upstream')).toBe('yes');
    const ready = await request(D.adminUrl, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.text).toMatch(/redis/i);
  });

  it('F03 Redis down during refresh: 503, and the presented refresh token is not consumed', async () => {
    const r = await refresh(D.url, outageSession.refresh_token);
    expectUnavailable(D, r, outageSession.refresh_token);
    expect(r.ms).toBeLessThan(1000);
    // consumption is checked after the restart (F06 test)
  });

  it('F04 Redis down during logout: 503, not 204', async () => {
    const r = await logout(D, outageSession);
    expectUnavailable(D, r, outageSession.access_token);
    expect(r.ms).toBeLessThan(1000);
  });

  it('F05 Redis down: login answers 503 (README: throttling is never bypassed), no login succeeds, no unlimited guessing', async () => {
    // perUser is 3: ten attempts with the right password and ten with wrong ones; none may produce tokens or a 401 "try again"
    const attempts = await Promise.all([
      ...Array.from({ length: 10 }, () => postJson(D.url, '/auth/login', { username: USER, password: PW })),
      ...Array.from({ length: 10 }, () => postJson(D.url, '/auth/login', { username: USER, password: 'guess' })),
      ...Array.from({ length: 5 }, () => postJson(D.url, '/oauth/token', { grant_type: 'password', username: USER, password: PW })),
    ]);
    for (const r of attempts) {
      expect(r.status, r.text).toBe(503);
      expect(r.text).not.toContain('access_token');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(r.ms).toBeLessThan(1000);
    }
    expect(D.logs.text()).not.toContain(PW);
  });

  it('F06 Redis restart: revocations recorded before it are still honoured; service resumes; the refresh token answered 503 refreshes exactly once', async () => {
    await redis.restart();
    await pollUntil(
      () => api(D, valid),
      (r) => r.status === 200,
      { withinMs: 5000, everyMs: 50, what: 'gateway serving again after the restart' },
    );
    const { reply, reached } = await apiUnreached(D, revoked);
    const body = expectError(reply, 401, 'invalid_token');
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer realm="gatehouse", error="invalid_token"/);
    expect(reached).toBe(false);
    expect(logLine(D, body.request_id)?.status).toBe(401);
    // a gateway that never saw the old Redis process reads them from Redis
    const E = await gateway(gatewayRaw({ files, upstream: up.url, redis: { url: redis.url, keyPrefix: PREFIX, commandTimeout: '300ms' } }));
    expectError(await api(E, revoked), 401, 'invalid_token');
    expect((await api(E, valid)).status).toBe(200);
    // F03/F04 consequences: the outage logout did not happen, the outage refresh did not consume the token
    expect((await api(D, outageSession.access_token)).status).toBe(200);
    expectTokens(await refresh(D.url, outageSession.refresh_token));
    expectError(await refresh(D.url, outageSession.refresh_token), 401, 'invalid_grant');
    // F05: after the outage the throttle still counts (3 wrong -> 429 even with the right password)
    for (let i = 0; i < 3; i++) expectError(await postJson(D.url, '/auth/login', { username: USER, password: 'wrong' }), 401, 'invalid_credentials');
    const locked = await postJson(D.url, '/auth/login', { username: USER, password: PW });
    expectError(locked, 429, 'too_many_requests');
  });

  it('F02 Redis stalled (DEBUG SLEEP): answers within budget as 200/503 (never 401, never hanging), no pile-up', async () => {
    expect((await api(D, valid)).status).toBe(200);
    const staller = rawRedis(redis.url);
    try {
      expect(await staller.ping()).toBe('PONG');
      const stall = staller.call('DEBUG', 'SLEEP', '2');
      await sleep(20);
      const t0 = performance.now();
      const burst = await Promise.all([
        ...Array.from({ length: 50 }, () => api(D, valid)),
        ...Array.from({ length: 10 }, () => adminRevoke(D, { jti: crypto.randomUUID(), exp: Math.floor(Date.now() / 1000) + 60 })),
        ...Array.from({ length: 10 }, () => refresh(D.url, session.refresh_token)),
      ]);
      const wall = performance.now() - t0;
      await sleep(Math.max(0, t0 + 1400 - performance.now()));
      const late = await Promise.all(Array.from({ length: 20 }, () => apiUnreached(D, valid)));
      await stall;
      expect(wall).toBeLessThan(1500);
      for (const r of burst) {
        expect(r.ms).toBeLessThan(1000);
        expect([200, 204, 503]).toContain(r.status);
      }
      for (const r of burst.slice(50)) expect(r.status).toBe(503);
      for (const { reply, reached } of late) {
        expectUnavailable(D, reply);
        expect(reached).toBe(false);
        expect(reply.ms).toBeLessThan(1000);
      }
      await pollUntil(
        () => api(D, valid),
        (r) => r.status === 200,
        { withinMs: 3000, what: 'serving after the stall' },
      );
      // the refresh attempts that got 503 consumed nothing
      expectTokens(await refresh(D.url, session.refresh_token));
    } finally {
      staller.disconnect();
    }
  });
});

// ---------------------------------------------------------------------------
/** One protected request with a token; `reached` says whether the upstream saw it. */
const probe = apiUnreached;

function expectInvalidToken(g: TestGateway, a: { reply: Reply; reached: boolean }, token: string): void {
  const body = expectError(a.reply, 401, 'invalid_token');
  expect(a.reply.headers.get('www-authenticate')).toMatch(CHALLENGE_401);
  expect(a.reached).toBe(false);
  for (const h of IDENTITY_HEADERS) expect(a.reply.headers.get(h)).toBeNull();
  expect(a.reply.text).not.toContain('alice');
  const line = logLine(g, body.request_id);
  expect(line?.status).toBe(401);
  expect(typeof line?.reason).toBe('string');
  expectNotLogged(g.logs, token);
}

describe('JWKS down, slow, garbage, cold start (F07-F10)', () => {
  const ISS_A = 'https://idp-a.test';
  const ISS_B = 'https://idp-b.test';
  const COOLDOWN = 200;
  let k1: TestKey;
  let jw: JwksServer;
  let J: TestGateway;
  const tokenA = (k: TestKey) => signToken(k, {}, { iss: ISS_A, sub: 'alice' });

  beforeAll(async () => {
    k1 = await makeKey('ES256', 'fail-a-k1');
    jw = await startJwks(() => ({ keys: [k1.publicJwk] }));
    jw.delayMs = 150; // a cold start where concurrent requests arrive while the first fetch is in flight
    cleanups.push(() => jw.stop());
    const dead = await deadPort();
    const raw = gatewayRaw({ files, upstream: up.url, redis: {} });
    J = await gateway({
      ...raw,
      revocation: { store: 'memory' },
      trustedIssuers: [
        { iss: ISS_A, jwksUri: `${jw.url}/jwks`, audience: 'api', algorithms: ['ES256'], jwksCooldown: `${COOLDOWN}ms`, jwksTimeout: '500ms' },
        { iss: ISS_B, jwksUri: `http://127.0.0.1:${dead}/jwks`, audience: 'api', algorithms: ['ES256'], jwksCooldown: `${COOLDOWN}ms`, jwksTimeout: '500ms' },
      ],
    });
  });

  it('F07-F09 JWKS down/slow/garbage (500, HTML, {}, 10 MB, redirect, hang, stopped): cached key works, unknown kid -> 401 within the timeout, concurrent requests share one fetch', async () => {
    // concurrent requests at (near) cold start share the fetch in flight
    const token = await tokenA(k1);
    const first = await Promise.all(Array.from({ length: 20 }, () => probe(J, token)));
    for (const a of first) {
      expect(a.reply.status, a.reply.text).toBe(200);
      expect(a.reached).toBe(true);
    }
    expect(jw.fetches).toBe(1);
    jw.delayMs = 0;
    for (const mode of ['status500', 'html', 'emptyObject', 'hugeDeclared', 'redirect', 'hang'] as const) {
      jw.mode = mode;
      await sleep(COOLDOWN + 50);
      const before = jw.fetches;
      const unknown = await tokenA(await makeKey('ES256', `unknown-${mode}`));
      // a flood of the same unknown kid: one fetch, all 401 within the timeout
      const answers = await Promise.all(Array.from({ length: 10 }, () => probe(J, unknown)));
      for (const a of answers) {
        expectInvalidToken(J, a, unknown);
        expect(a.reply.ms, mode).toBeLessThan(1500);
      }
      expect(jw.fetches - before, mode).toBe(1);
      const ok = await probe(J, token);
      expect(ok.reply.status, mode).toBe(200);
      expect(ok.reached).toBe(true);
    }
    expect(jw.paths).not.toContain('/evil');
    jw.mode = 'ok';
  });

  it('F10 JWKS unreachable at cold start: that issuer -> 401 and /readyz 503 naming it; self-issued and other issuers unaffected', async () => {
    const kB = await makeKey('ES256', 'fail-b-k1');
    const tB = await signToken(kB, {}, { iss: ISS_B, sub: 'alice' });
    const b = await probe(J, tB);
    expectInvalidToken(J, b, tB);
    expect(b.reply.ms).toBeLessThan(1500);
    const self = await probe(J, await accessToken(files, 'alice'));
    expect(self.reply.status).toBe(200);
    expect(self.reached).toBe(true);
    expect((await probe(J, await tokenA(k1))).reply.status).toBe(200);
    const ready = await request(J.adminUrl, '/readyz');
    expect(ready.status).toBe(503);
    const { status, reasons } = JSON.parse(ready.text) as { status: string; reasons: string[] };
    expect(status).toBe('not_ready');
    expect(reasons.some((why) => why.includes(ISS_B))).toBe(true);
    for (const iss of [ISS_A, ISS])
      expect(
        reasons.some((why) => why.includes(iss)),
        iss,
      ).toBe(false);
    // alive, though not ready
    expect((await request(J.adminUrl, '/healthz')).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------
describe('upstream down, slow, broken (F11-F13)', () => {
  let P: TestGateway;
  let slow: Server;
  let slowOpen = 0;
  let slowReceived = 0;
  let slowAborted = 0;
  let raw: NetServer;
  /** connection number of every request the raw upstream received, by path */
  const rawSeen: Array<{ conn: number; path: string }> = [];
  const TIMEOUT_MS = 200;
  const POOL = 64;

  beforeAll(async () => {
    // never answers: every request it receives must be aborted by the gateway
    slow = createHttpServer((_req, res) => {
      slowReceived++;
      res.on('close', () => {
        if (!res.writableEnded) slowAborted++;
      });
    });
    slow.on('connection', (c: Socket) => {
      slowOpen++;
      c.once('close', () => slowOpen--);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          slow.closeAllConnections();
          slow.close(() => r());
        }),
    );

    let conns = 0;
    const rawSockets = new Set<Socket>();
    raw = createNetServer((sock) => {
      const conn = ++conns;
      rawSockets.add(sock);
      sock.on('close', () => rawSockets.delete(sock));
      sock.on('error', () => {});
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
          const head = buf.slice(0, end);
          buf = buf.slice(end + 4);
          const path = (head.split(' ')[1] ?? '').replace(/^\/raw/, '');
          rawSeen.push({ conn, path });
          if (path.startsWith('/ok')) sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
          else if (path.startsWith('/clte')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
          else if (path.startsWith('/badstatus')) sock.write('HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok');
          else if (path.startsWith('/reset-head')) {
            sock.write('HTTP/1.1 200 OK\r\nContent-Le');
            setTimeout(() => sock.resetAndDestroy(), 10);
          } else if (path.startsWith('/reset-body')) {
            sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial');
            setTimeout(() => sock.resetAndDestroy(), 10);
          }
        }
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          for (const s of rawSockets) s.destroy();
          raw.close(() => r());
        }),
    );
    const dead = await deadPort();
    P = await gateway({
      // idle pooled upstream connections are closed after keepAliveTimeout; the pool is bounded
      server: { listen: '127.0.0.1:0', keepAliveTimeout: '1s', maxConnectionsPerUpstream: POOL },
      routes: [
        { name: 'ok', match: { path: '/ok/**' }, upstream: up.url, auth: 'public' },
        { name: 'dead', match: { path: '/dead/**' }, upstream: `http://127.0.0.1:${dead}`, auth: 'public' },
        {
          name: 'slow',
          match: { path: '/slow/**' },
          upstream: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
          auth: 'public',
          timeout: `${TIMEOUT_MS}ms`,
        },
        { name: 'raw', match: { path: '/raw/**' }, upstream: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, auth: 'public', stripPrefix: '/raw' },
      ],
    });
    expect((await request(P.url, '/ok/x')).status).toBe(200);
  });

  it('F11 upstream down (connection refused) -> 502 bad_gateway, fast, logged', async () => {
    const r = await request(P.url, '/dead/x');
    const body = expectError(r, 502, 'bad_gateway');
    expect(r.ms).toBeLessThan(500);
    expect(r.headers.get('www-authenticate')).toBeNull();
    const line = logLine(P, body.request_id);
    expect(line?.status).toBe(502);
  });

  it('F12 upstream slow -> 504 after the route timeout, upstream request aborted; 1,000 slow requests leave no open upstream socket', async () => {
    const one = await request(P.url, '/slow/one');
    const body = expectError(one, 504, 'gateway_timeout');
    expect(one.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(one.ms).toBeLessThan(TIMEOUT_MS + 500);
    expect(logLine(P, body.request_id)?.status).toBe(504);
    await pollUntil(
      async () => slowAborted,
      (n) => n >= 1,
      { withinMs: 1000, what: 'the upstream request aborted' },
    );

    const heapBefore = process.memoryUsage().heapUsed;
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 4; batch++) {
      const replies = await Promise.all(Array.from({ length: 250 }, (_, i) => request(P.url, `/slow/${batch}-${i}`)));
      for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    expect([...statuses]).toEqual([[504, 1000]]);
    // bounded by the pool right away, whatever the number of requests
    expect(slowOpen).toBeLessThanOrEqual(POOL);
    // every request that reached the upstream was aborted, and the upstream's connections settle to none
    // (connections opened for requests that timed out while queued idle out after the pool's 4 s keep-alive)
    await pollUntil(
      async () => ({ open: slowOpen, received: slowReceived, aborted: slowAborted }),
      (v) => v.open === 0 && v.aborted === v.received,
      { withinMs: 7000, everyMs: 100, what: 'upstream sockets closing' },
    );
    expect(slowReceived).toBeGreaterThan(1);
    // no runaway memory: far less than what 1,000 retained requests would hold
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect((await request(P.url, '/ok/after')).status).toBe(200);
  }, 30_000);

  describe('F13 upstream CL+TE, bad status line or reset -> 502, connection not reused; start-up refuses bad config (exit 1, file and key named); a bad reload keeps the last good config', () => {
    it('upstream sends CL+TE, a bad status line, or resets mid-response -> 502 and the connection is not reused', async () => {
      const ok = await request(P.url, '/raw/ok-0');
      expect(ok.status).toBe(200);
      expect(ok.text).toBe('ok');
      for (const bad of ['/clte', '/badstatus', '/reset-head']) {
        const r = await request(P.url, `/raw${bad}`);
        const body = expectError(r, 502, 'bad_gateway');
        expect(logLine(P, body.request_id)?.status).toBe(502);
        const badConns = new Set(rawSeen.filter((s) => s.path === bad).map((s) => s.conn));
        const next = await request(P.url, `/raw/ok${bad}`);
        expect(next.status, bad).toBe(200);
        const nextConn = rawSeen.find((s) => s.path === `/ok${bad}`)?.conn as number;
        expect(badConns.has(nextConn), `${bad}: the next request went over the broken connection`).toBe(false);
      }
      // reset after the headers were forwarded: the client must not get a clean, complete 200
      const completed = await request(P.url, '/raw/reset-body').then(
        (r) => r.status === 200 && r.text.length === 100,
        () => false,
      );
      expect(completed).toBe(false);
      const next = await request(P.url, '/raw/ok-after-reset');
      expect(next.status).toBe(200);
    });

    describe('start-up and reload', () => {
      let dir: string;
      let keyFile: string;
      let base: () => Record<string, unknown>;

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'gatehouse-sec-failure-'));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        const key = await makeKey('ES256', 'start-k1');
        keyFile = writeJwkFile(key.publicJwk, dir);
        base = () => ({
          server: { listen: '127.0.0.1:0' },
          admin: { listen: '127.0.0.1:0' },
          verify: { algorithms: ['ES256'] },
          trustedIssuers: [{ iss: 'https://idp.start.test', keys: [{ file: keyFile }], audience: 'api', algorithms: ['ES256'] }],
          routes: [
            { name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' },
            { name: 'api', match: { path: '/api/**' }, upstream: up.url, auth: 'required' },
          ],
        });
      });

      let n = 0;
      const write = (text: string): string => {
        const file = join(dir, `config-${++n}.yaml`);
        writeFileSync(file, text);
        return file;
      };
      const writeConfig = (raw: Record<string, unknown>) => write(stringify(raw));

      it('start-up refuses (exit 1, one stderr line naming the file and key): YAML errors, unknown keys, bad patterns, empty or none alg list, HS*, non-https JWKS outside loopback, unset ${VAR}', async () => {
        // the valid file starts
        const good = writeConfig(base());
        const check = await runCli(['check', '-c', good], { unset: ['GH_SEC_UNSET_SECRET'] });
        expect(check.code, check.stderr).toBe(0);
        const cases: Array<[string, string, RegExp]> = [
          ['YAML syntax error', 'routes: [\n  - { match: {\n', /yaml|line/i],
          ['unknown key', stringify({ ...base(), server: { listen: '127.0.0.1:0', listn: 'x' } }), /server\.listn: unknown key/],
          ['bad pattern', stringify({ ...base(), routes: [{ match: { path: '/a/**/b' }, upstream: up.url, auth: 'public' }] }), /routes\[0\]\.match\.path/],
          ['empty alg list', stringify({ ...base(), verify: { algorithms: [] } }), /verify\.algorithms/],
          ['alg none', stringify({ ...base(), verify: { algorithms: ['ES256', 'none'] } }), /verify\.algorithms\[1\]: "none" is never allowed/],
          ['HS256', stringify({ ...base(), verify: { algorithms: ['HS256'] } }), /verify\.algorithms\[0\]: HS256 is not supported/],
          [
            'HS per issuer',
            stringify({ ...base(), trustedIssuers: [{ iss: 'https://idp.start.test', keys: [{ file: keyFile }], audience: 'api', algorithms: ['HS256'] }] }),
            /trustedIssuers\[0\]\.algorithms/,
          ],
          [
            'http JWKS off loopback',
            stringify({
              ...base(),
              trustedIssuers: [{ iss: 'https://idp.start.test', jwksUri: 'http://idp.example.com/jwks', audience: 'api', algorithms: ['ES256'] }],
            }),
            /trustedIssuers\[0\]\.jwksUri: must be an https URL/,
          ],
          [
            'unset ${VAR}',
            stringify({ ...base(), revocation: { store: 'redis', redis: { url: '${GH_SEC_UNSET_SECRET}' } } }),
            /revocation\.redis\.url: environment variable GH_SEC_UNSET_SECRET is not set/,
          ],
        ];
        // five at a time: each is a full node start-up
        const results: Array<{ name: string; file: string; want: RegExp; r: CliRun }> = [];
        for (let i = 0; i < cases.length; i += 5) {
          const chunk = cases.slice(i, i + 5).map(async ([name, text, want]) => {
            const file = write(text);
            return { name, file, want, r: await runCli(['start', '-c', file], { unset: ['GH_SEC_UNSET_SECRET'] }) };
          });
          results.push(...(await Promise.all(chunk)));
        }
        for (const { name, file, want, r } of results) {
          expect(r.code, `${name}: ${r.stderr}`).toBe(1);
          const lines = r.stderr.split('\n').filter((l) => l.length > 0);
          expect(lines, `${name}: ${r.stderr}`).toHaveLength(1);
          expect(lines[0], name).toContain(file);
          expect(lines[0], name).toMatch(want);
          expect(r.stdout, name).not.toContain('listening');
        }
      }, 40_000);

      it('reload with a bad file keeps the last good config', async () => {
        const k = await makeKey('ES256', 'reload-k1');
        const kFile = writeJwkFile(k.publicJwk, dir);
        const raw = { ...base(), trustedIssuers: [{ iss: 'https://idp.reload.test', keys: [{ file: kFile }], audience: 'api', algorithms: ['ES256'] }] };
        const G = await gateway(raw);
        const t = await signToken(k, {}, { iss: 'https://idp.reload.test' });
        const ok = () => request(G.url, '/api/orders', { token: t });
        expect((await ok()).status).toBe(200);
        // a config that parses but cannot be built (missing key file) and one that does not validate: both refused, old config kept
        const broken = configFrom({
          ...raw,
          trustedIssuers: [{ iss: 'https://idp.reload.test', keys: [{ file: join(dir, 'absent.jwk.json') }], audience: 'api', algorithms: ['ES256'] }],
        });
        expect(await G.gw.reload(broken)).toBe(false);
        expect((await ok()).status).toBe(200);
        expect(G.logs.text()).toMatch(/reload failed; keeping the running config/);
        expect(() => configFrom({ ...raw, verify: { algorithms: ['none'] } })).toThrow(/verify\.algorithms\[0\]/);
        // a file-backed gateway re-reading a bad file keeps serving too
        const file = writeConfig(raw);
        const logs = new LogCapture();
        const F = await Gateway.start({ config: loadConfig(file), logger: createLogger('info', logs) });
        cleanups.push(() => F.stop());
        const fUrl = `http://127.0.0.1:${F.address().port}`;
        expect((await request(fUrl, '/api/orders', { token: t })).status).toBe(200);
        writeFileSync(file, 'routes: [\n  - {\n');
        expect(await F.reload()).toBe(false);
        expect((await request(fUrl, '/api/orders', { token: t })).status).toBe(200);
        writeFileSync(file, stringify({ ...raw, verify: { algorithms: ['HS256'] } }));
        expect(await F.reload()).toBe(false);
        expect((await request(fUrl, '/api/orders', { token: t })).status).toBe(200);
        expect(logs.text()).toMatch(/reload failed; keeping the running config/);
      });
    });
  });
});
