/**
 * Redis failures under a running fleet (SECURITY.md F01-F06, SPEC §5 step 5,
 * §6): a real redis-server is SIGKILLed mid-traffic, restarted with its AOF,
 * replaced by an empty one on the same port, and stalled with DEBUG SLEEP.
 * Two gateways share it: D with `onStoreError: deny`, L with `allow`.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { claimsOf, expectError, expectTokens, login, postJson, refresh, request, type Reply, type TokenResponse } from '../tokens-service/support.js';
import { accessToken, adminRevoke, callApi, debugCommandArgs, gatewayRaw, issuerFiles, members, metricSum, pollUntil, rawRedis, redisKeys, sleep, type IssuerFiles } from './support.js';

const PREFIX = `gh-outage-${process.pid}:`;
const KEYS = redisKeys(PREFIX);
const USERS = ['u1@example.com', 'u2@example.com', 'u3@example.com', 'u4@example.com'] as const;
const PW = Object.fromEntries(USERS.map((u) => [u, `${u}-pw`])) as Record<string, string>;
/** every answer while Redis is down or stalled comes back within this (F02: no request waits on Redis) */
const BUDGET_MS = 1000;

let redis: TestRedis;
let files: IssuerFiles;
let up: TestUpstream;
let D: TestGateway;
let L: TestGateway;
const extra = new Set<TestGateway>();
const clients = new Set<Redis>();

const rawFor = (onStoreError: 'deny' | 'allow') => gatewayRaw({ files, upstream: up.url, onStoreError, redis: { url: redis.url, keyPrefix: PREFIX, commandTimeout: '300ms' } });
const logout = (g: TestGateway, t: TokenResponse): Promise<Reply> => postJson(g.url, '/auth/logout', {}, { authorization: `Bearer ${t.access_token}` });
const api = (g: TestGateway, token: string) => request(g.url, '/api/orders', { token });
const pub = (g: TestGateway) => request(g.url, '/public/hello');
const readyz = (g: TestGateway) => request(g.adminUrl, '/readyz');
function redisClient(): Redis {
  const r = rawRedis(redis.url);
  clients.add(r);
  return r;
}

async function started(raw: Record<string, unknown>): Promise<TestGateway> {
  const g = await startGateway(raw);
  extra.add(g);
  return g;
}

/** 503 temporarily_unavailable with Retry-After (SPEC §5 errors table). */
function expectUnavailable(r: Reply): void {
  expectError(r, 503, 'temporarily_unavailable');
  expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
}

interface Sample {
  /** performance.now() when the request was sent */
  at: number;
  status: number;
  ms: number;
}

/** Sends one request after another (every `everyMs`) until stopped, recording each answer; a failed request is status 0. */
function traffic(send: () => Promise<Reply>, everyMs = 20) {
  const samples: Sample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = performance.now();
      const r = await send().catch(() => ({ status: 0, ms: performance.now() - at }));
      samples.push({ at, status: r.status, ms: r.ms });
      await sleep(everyMs);
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

beforeAll(async () => {
  [redis, files, up] = await Promise.all([startRedis(debugCommandArgs()), issuerFiles(PW), startUpstream()]);
  [D, L] = await Promise.all([startGateway(rawFor('deny')), startGateway(rawFor('allow'))]);
});

afterAll(async () => {
  await Promise.all([...extra].map((g) => g.stop().catch(() => {})));
  await Promise.all([D?.stop(), L?.stop()]);
  for (const c of clients) c.disconnect();
  await up?.close();
  await redis?.stop();
  files?.cleanup();
});

describe('Redis killed (SIGKILL) mid-traffic, then restarted with its data', () => {
  /** valid, never revoked */
  let valid: string;
  /** revoked through the admin API before the kill */
  let revoked: string;
  /** revoked by a ZADD straight into Redis just before the kill: no instance heard of it, only the AOF has it */
  let onlyInRedis: string;
  let onlyInRedisJti: string;
  /** sessions whose refresh/logout are attempted during the outage */
  let sD: TokenResponse;
  let sL: TokenResponse;
  let killedAt = 0;
  let errorsBefore = 0;
  const flows: Array<ReturnType<typeof traffic>> = [];
  let dApi: Sample[];
  let dPublic: Sample[];
  let lApi: Sample[];
  /** every answer the tests below got while Redis was down */
  const during: Reply[] = [];
  const note = (r: Reply): Reply => (during.push(r), r);

  beforeAll(async () => {
    valid = await accessToken(files, 'kill-valid');
    const revokedJti = crypto.randomUUID();
    revoked = await accessToken(files, 'kill-revoked', revokedJti);
    onlyInRedisJti = crypto.randomUUID();
    onlyInRedis = await accessToken(files, 'kill-aof', onlyInRedisJti);
    [sD, sL] = await Promise.all([login(D.url, USERS[0], PW[USERS[0]] as string), login(L.url, USERS[1], PW[USERS[1]] as string)]);
    expect((await adminRevoke(D, { jti: revokedJti, exp: claimsOf(revoked).exp })).status).toBe(204);
    for (const g of [D, L]) {
      expect((await api(g, valid)).status).toBe(200);
      expectError(await api(g, revoked), 401, 'invalid_token');
      expect((await readyz(g)).status).toBe(200);
    }
    errorsBefore = await metricSum(L.adminUrl, 'gatehouse_store_errors_total');
    flows.push(traffic(() => api(D, valid)), traffic(() => pub(D)), traffic(() => api(L, valid)));
    [dApi, dPublic, lApi] = flows.map((f) => f.samples) as [Sample[], Sample[], Sample[]];
    await sleep(200);
    const r = redisClient();
    await r.zadd(KEYS.jti, claimsOf(onlyInRedis).exp as number, onlyInRedisJti);
    killedAt = performance.now();
    await redis.kill();
    // keep traffic flowing until the deny gateway has noticed, then 1 s more
    await pollUntil(async () => dApi.some((s) => s.at >= killedAt && s.status === 503), Boolean, { withinMs: 3000, what: 'first 503 after the kill' });
    await sleep(1000);
    // stopped here so the checks below see only their own requests at the upstream
    await Promise.all(flows.map((f) => f.stop()));
  });

  afterAll(async () => {
    await Promise.all(flows.map((f) => f.stop()));
  });

  it('protected routes answer 503 (deny) within 1.5 s of the kill, never 401, and no 200 once they do', () => {
    expect(dApi.filter((s) => s.at < killedAt).length).toBeGreaterThan(3);
    expect(dApi.filter((s) => s.at < killedAt).every((s) => s.status === 200)).toBe(true);
    const first503 = dApi.find((s) => s.status === 503) as Sample;
    expect(first503.at + first503.ms - killedAt, 'ms from the kill to the first 503').toBeLessThan(1500);
    const after = dApi.filter((s) => s.at >= first503.at);
    expect(after.length).toBeGreaterThan(10);
    expect(after.map((s) => s.status).filter((st) => st !== 503)).toEqual([]);
    expect(dApi.map((s) => s.status).filter((st) => st !== 200 && st !== 503)).toEqual([]);
  });

  it('public routes keep answering 200', () => {
    expect(dPublic.filter((s) => s.at >= killedAt).length).toBeGreaterThan(10);
    expect(dPublic.map((s) => s.status).filter((st) => st !== 200)).toEqual([]);
  });

  it('onStoreError: allow serves protected routes from the mirror', () => {
    expect(lApi.filter((s) => s.at >= killedAt).length).toBeGreaterThan(10);
    expect(lApi.map((s) => s.status).filter((st) => st !== 200)).toEqual([]);
  });

  it('no request hangs: every answer during the outage comes back within 1 s', () => {
    const slow = [...dApi, ...dPublic, ...lApi].filter((s) => s.at >= killedAt && (s.ms >= BUDGET_MS || s.status === 0));
    expect(slow).toEqual([]);
  });

  it('deny: 503 with Retry-After for valid and revoked tokens alike, upstream not called', async () => {
    for (const t of [valid, revoked]) {
      const { reply, reached } = await callApi(D, up, t);
      expectUnavailable(note(reply));
      expect(reached).toBe(false);
    }
    expect(note(await pub(D)).status).toBe(200);
  });

  it('/readyz is 503 and names Redis', async () => {
    for (const g of [D, L]) {
      const r = note(await readyz(g));
      expect(r.status).toBe(503);
      const body = JSON.parse(r.text) as { status: string; reasons: string[] };
      expect(body.status).toBe('not_ready');
      expect(body.reasons.join(' ')).toMatch(/redis/i);
    }
    expect(note(await request(D.adminUrl, '/healthz')).status).toBe(200);
  });

  it('/auth/refresh and /auth/logout answer 503 (F03, F04), on both instances', async () => {
    expectUnavailable(note(await refresh(D.url, sD.refresh_token)));
    expectUnavailable(note(await logout(D, sD)));
    expectUnavailable(note(await refresh(L.url, sL.refresh_token)));
    // allow lets the bearer check through, but the revocation cannot be recorded: still 503, never 204
    expectUnavailable(note(await logout(L, sL)));
    // login needs a durable refresh family (and shared throttle counters): 503 too, never an unthrottled login (F05)
    expectUnavailable(note(await postJson(D.url, '/auth/login', { username: USERS[2], password: PW[USERS[2]] })));
  });

  it('/admin/revoke answers 503: nothing was recorded', async () => {
    expectUnavailable(note(await adminRevoke(D, { sub: 'kill-valid' })));
  });

  it('allow: a token revoked before the outage is still rejected; store errors are counted', async () => {
    const { reply, reached } = await callApi(L, up, revoked);
    expectError(note(reply), 401, 'invalid_token');
    expect(reached).toBe(false);
    const ok = await callApi(L, up, valid);
    expect(note(ok.reply).status).toBe(200);
    expect(ok.reached).toBe(true);
    expect(await metricSum(L.adminUrl, 'gatehouse_store_errors_total')).toBeGreaterThan(errorsBefore);
  });

  it('every one of those answers came back within 1 s', () => {
    expect(during.length).toBeGreaterThan(10);
    expect(during.filter((r) => r.ms >= BUDGET_MS).map((r) => `${r.status} ${r.ms}`)).toEqual([]);
  });

  it('restart: service resumes by itself, revocations from before the kill hold (AOF), the refresh token was not consumed', async () => {
    await redis.restart();
    const restartedAt = performance.now();
    // The AOF has what was acknowledged, including the entry no Gatehouse ever heard of.
    const r = redisClient();
    expect(await r.zscore(KEYS.jti, onlyInRedisJti)).toBe(String(claimsOf(onlyInRedis).exp));
    await pollUntil(() => api(D, valid), (x) => x.status === 200, { withinMs: 5000, everyMs: 50, since: restartedAt, what: 'deny gateway serving again after the restart' });
    await pollUntil(() => readyz(D), (x) => x.status === 200, { withinMs: 2000, what: '/readyz 200 again' });
    for (const g of [D, L]) {
      expectError(await api(g, revoked), 401, 'invalid_token');
      expectError(await api(g, onlyInRedis), 401, 'invalid_token');
    }
    // The 503s changed nothing: the refresh tokens presented during the outage refresh exactly once, and the logouts did not happen.
    expect((await api(D, sD.access_token)).status).toBe(200);
    expect((await api(L, sL.access_token)).status).toBe(200);
    const next = expectTokens(await refresh(D.url, sD.refresh_token));
    expectTokens(await refresh(L.url, sL.refresh_token));
    expectError(await refresh(D.url, sD.refresh_token), 401, 'invalid_grant'); // now it is a reuse
    const since = performance.now();
    await pollUntil(() => api(L, next.access_token), (x) => x.status === 401, { withinMs: 1000, since, what: 'reuse revoking the family' });
    // A gateway that never saw the old Redis process honours them too.
    const E = await started(rawFor('deny'));
    for (const t of [revoked, onlyInRedis, next.access_token]) expectError(await api(E, t), 401, 'invalid_token');
    expect((await api(E, valid)).status).toBe(200);
  });
});

describe('Redis restarted EMPTY on the same port', () => {
  it('running instances write back the revocations they know, and a new instance honours them', async () => {
    const jti = crypto.randomUUID();
    const byJti = await accessToken(files, 'empty-jti', jti);
    const bySub = await accessToken(files, 'empty-sub');
    const session = await login(D.url, USERS[2], PW[USERS[2]] as string);
    const sid = claimsOf(session.access_token).sid as string;
    expect((await adminRevoke(D, { jti, exp: claimsOf(byJti).exp })).status).toBe(204);
    expect((await adminRevoke(D, { sub: 'empty-sub' })).status).toBe(204);
    expect((await logout(D, session)).status).toBe(204);
    const port = redis.port;
    await redis.stop(); // SIGKILL and the data dir removed
    redis = await startRedis(debugCommandArgs(), port); // no data: a fresh dir
    const r = redisClient();
    expect(await r.dbsize()).toBe(0);
    const { elapsed } = await pollUntil(
      async () => ({ jti: await members(r, KEYS.jti), subject: await members(r, KEYS.subject), family: await members(r, KEYS.family) }),
      (v) => v.jti.includes(jti) && v.jti.includes(claimsOf(session.access_token).jti as string) && v.subject.includes('empty-sub') && v.family.includes(sid),
      { withinMs: 6000, everyMs: 100, what: 'revocations written back to the empty Redis' },
    );
    expect(elapsed).toBeLessThan(6000);
    const F = await started(rawFor('deny'));
    for (const t of [byJti, bySub, session.access_token]) expectError(await api(F, t), 401, 'invalid_token');
    expectError(await refresh(F.url, session.refresh_token), 401, 'invalid_grant');
    expect((await api(F, await accessToken(files, 'empty-other'))).status).toBe(200);
    await pollUntil(() => readyz(D), (x) => x.status === 200, { withinMs: 2000, what: 'D ready on the new Redis' });
  });
});

describe('Redis stalled (DEBUG SLEEP 2)', () => {
  it('no pile-up: 50 concurrent requests answer within the budget; deny turns to 503 once the stall is noticed, allow keeps serving', async () => {
    const valid = await accessToken(files, 'stall-valid');
    const revokedJti = crypto.randomUUID();
    const revoked = await accessToken(files, 'stall-revoked', revokedJti);
    expect((await adminRevoke(D, { jti: revokedJti, exp: claimsOf(revoked).exp })).status).toBe(204);
    await pollUntil(() => api(L, revoked), (x) => x.status === 401, { withinMs: 1000, what: 'revocation on L' });
    for (const g of [D, L]) expect((await api(g, valid)).status).toBe(200);
    const session = await login(D.url, USERS[3], PW[USERS[3]] as string);
    const staller = redisClient();
    expect(await staller.ping()).toBe('PONG'); // connected: the DEBUG below goes out now, not from an offline queue
    const stallAt = performance.now();
    const stall = staller.call('DEBUG', 'SLEEP', '2');
    await sleep(20); // on the wire and running

    const burst = async (send: () => Promise<Reply>, n = 50) => {
      const t0 = performance.now();
      const replies = await Promise.all(Array.from({ length: n }, send));
      return { replies, wall: performance.now() - t0 };
    };
    // A refresh sent before the stall is noticed reaches Redis and times out: 503 (F02). Redis runs the queued
    // rotation once it wakes, but the new token never left Gatehouse, so the presented one must stay usable (F03).
    const stalledRefresh = refresh(D.url, session.refresh_token);
    // Right after the stall starts: cached tokens never wait on Redis; D may not have noticed yet (200 from the mirror) or has (503).
    const early = await Promise.all([burst(() => api(D, valid)), burst(() => api(L, valid)), burst(() => api(L, revoked), 10)]);
    // Requests that must talk to Redis: bounded by commandTimeout (300 ms), not by the stall.
    const writes = await burst(() => adminRevoke(D, { jti: crypto.randomUUID(), exp: Math.floor(Date.now() / 1000) + 60 }));
    const logins = await burst(() => postJson(D.url, '/auth/login', { username: USERS[3], password: 'wrong' }));
    // After heartbeat (1 s) + commandTimeout (300 ms) the stall has been noticed: D denies, L still serves from the mirror.
    await sleep(Math.max(0, stallAt + 1500 - performance.now()));
    expect(performance.now() - stallAt).toBeLessThan(1900); // still inside the 2 s stall
    const late = await Promise.all([burst(() => api(D, valid)), burst(() => api(L, valid)), burst(() => api(D, revoked), 10)]);
    const refreshed = await stalledRefresh;
    await stall;

    expectUnavailable(refreshed);
    expect(refreshed.ms).toBeLessThan(BUDGET_MS);
    for (const b of [...early, writes, logins, ...late]) {
      expect(b.wall, 'a burst of concurrent requests during the stall').toBeLessThan(1500);
      for (const r of b.replies) expect(r.ms).toBeLessThan(BUDGET_MS);
    }
    const statuses = (b: { replies: Reply[] }) => [...new Set(b.replies.map((r) => r.status))].sort();
    expect(early[0].replies.every((r) => r.status === 200 || r.status === 503)).toBe(true);
    expect(statuses(early[1])).toEqual([200]);
    expect(statuses(early[2])).toEqual([401]);
    for (const r of writes.replies) expectUnavailable(r);
    for (const r of logins.replies) expectUnavailable(r);
    expect(statuses(late[0])).toEqual([503]);
    for (const r of late[0].replies) expectUnavailable(r);
    expect(statuses(late[1])).toEqual([200]);
    expect(statuses(late[2])).toEqual([503]);
    // and it recovers by itself
    await pollUntil(() => api(D, valid), (x) => x.status === 200, { withinMs: 3000, what: 'D serving after the stall' });
    expectError(await api(D, revoked), 401, 'invalid_token');
    // the refresh token answered with 503 during the stall refreshes exactly once
    expectTokens(await refresh(D.url, session.refresh_token));
    expectError(await refresh(D.url, session.refresh_token), 401, 'invalid_grant');
  });
});
