/**
 * Redis failures under a running fleet (SECURITY.md F01-F06, SPEC §5 step 5,
 * §6): a real redis-server is SIGKILLed mid-traffic, restarted with its AOF,
 * replaced by an empty one on the same port, and frozen with SIGSTOP.
 * Two gateways share it: D with `onStoreError: deny`, L with `allow`.
 *
 * Written to hold on a loaded machine (event-loop stalls of ~1 s were seen on
 * a busy 2-core box): waits are polls with generous deadlines, "answered
 * without waiting on Redis" is shown by answers arriving while Redis is dead
 * or frozen (it stays so until the test lets it go), and the time limits
 * below leave room for a starved event loop.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { claimsOf, expectError, expectTokens, login, postJson, refresh, request, type Reply, type TokenResponse } from '../tokens-service/support.js';
import {
  accessToken,
  adminRevoke,
  callApi,
  gatewayRaw,
  issuerFiles,
  members,
  metricSum,
  pollUntil,
  rawRedis,
  redisKeys,
  sleep,
  startReady,
  waitReady,
  type IssuerFiles,
} from './support.js';

const PREFIX = `gh-outage-${process.pid}:`;
const KEYS = redisKeys(PREFIX);
const USERS = ['u1@example.com', 'u2@example.com', 'u3@example.com', 'u4@example.com'] as const;
const PW = Object.fromEntries(USERS.map((u) => [u, `${u}-pw`])) as Record<string, string>;
/**
 * Well above what a loaded machine's event loop adds, well below "when Redis
 * is back" (never, until the test restarts or resumes it). Long enough that a
 * starved event loop does not fire it while Redis is healthy, which would
 * mark the store down where a test expects it up.
 */
const COMMAND_TIMEOUT_MS = 2000;
/** every answer while Redis is down or stalled comes back within this (F02: no request waits on Redis): one command timeout plus room for a starved event loop */
const BUDGET_MS = COMMAND_TIMEOUT_MS + 3000;
/** generous deadline for things that happen by themselves (noticing an outage, reconnecting, resyncing) */
const EVENTUALLY_MS = 30_000;

let redis: TestRedis;
let files: IssuerFiles;
let up: TestUpstream;
let D: TestGateway;
let L: TestGateway;
const extra = new Set<TestGateway>();
const clients = new Set<Redis>();

const rawFor = (onStoreError: 'deny' | 'allow') =>
  gatewayRaw({ files, upstream: up.url, onStoreError, redis: { url: redis.url, keyPrefix: PREFIX, commandTimeout: `${COMMAND_TIMEOUT_MS}ms` } });
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
  const g = await startReady(raw);
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
  [redis, files, up] = await Promise.all([startRedis(), issuerFiles(PW), startUpstream()]);
  [D, L] = await Promise.all([startReady(rawFor('deny')), startReady(rawFor('allow'))]);
}, 90_000);

afterAll(async () => {
  redis?.resume(); // in case a failed test left it frozen
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
    // L hears of it by pub/sub: wait for that rather than assume it already has
    await pollUntil(
      () => api(L, revoked),
      (x) => x.status === 401,
      { withinMs: EVENTUALLY_MS, what: 'the revocation reaching L' },
    );
    for (const g of [D, L]) {
      await waitReady(g);
      expect((await api(g, valid)).status).toBe(200);
      expectError(await api(g, revoked), 401, 'invalid_token');
    }
    errorsBefore = await metricSum(L.adminUrl, 'gatehouse_store_errors_total');
    flows.push(
      traffic(() => api(D, valid)),
      traffic(() => pub(D)),
      traffic(() => api(L, valid)),
    );
    [dApi, dPublic, lApi] = flows.map((f) => f.samples) as [Sample[], Sample[], Sample[]];
    // a few answers on every flow before the kill, however slowly they come
    await pollUntil(
      async () => Math.min(dApi.length, dPublic.length, lApi.length),
      (n) => n > 3,
      { withinMs: EVENTUALLY_MS, everyMs: 20, what: 'traffic before the kill' },
    );
    const r = redisClient();
    await r.zadd(KEYS.jti, claimsOf(onlyInRedis).exp as number, onlyInRedisJti);
    killedAt = performance.now();
    await redis.kill();
    // keep traffic flowing until the deny gateway has noticed, then until every flow has more than 10 answers after that
    await pollUntil(async () => dApi.some((s) => s.at >= killedAt && s.status === 503), Boolean, { withinMs: EVENTUALLY_MS, what: 'first 503 after the kill' });
    const noticedAt = (dApi.find((s) => s.status === 503) as Sample).at;
    await pollUntil(
      async () =>
        Math.min(dApi.filter((s) => s.at >= noticedAt).length, dPublic.filter((s) => s.at >= noticedAt).length, lApi.filter((s) => s.at >= noticedAt).length),
      (n) => n > 10,
      { withinMs: EVENTUALLY_MS, everyMs: 20, what: 'traffic after the kill was noticed' },
    );
    // stopped here so the checks below run on a quiet gateway (each checks its own requests at the upstream anyway)
    await Promise.all(flows.map((f) => f.stop()));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(flows.map((f) => f.stop()));
  });

  it('protected routes answer 503 (deny) soon after the kill, never 401, and no 200 once they do', () => {
    // answered before the kill: all 200 (a request on the wire during the kill may get either answer)
    const before = dApi.filter((s) => s.at + s.ms < killedAt);
    expect(before.length).toBeGreaterThan(3);
    expect(before.map((s) => s.status).filter((st) => st !== 200)).toEqual([]);
    const first503 = dApi.find((s) => s.status === 503) as Sample;
    expect(first503.at + first503.ms - killedAt, 'ms from the kill to the first 503').toBeLessThan(BUDGET_MS);
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

  it('no request hangs: every answer during the outage comes back within the budget', () => {
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

  it('every one of those answers came back within the budget', () => {
    expect(during.length).toBeGreaterThan(10);
    expect(during.filter((r) => r.ms >= BUDGET_MS).map((r) => `${r.status} ${r.ms}`)).toEqual([]);
  });

  it('restart: service resumes by itself, revocations from before the kill hold (AOF), the refresh token was not consumed', async () => {
    await redis.restart();
    const restartedAt = performance.now();
    // The AOF has what was acknowledged, including the entry no Gatehouse ever heard of.
    const r = redisClient();
    expect(await r.zscore(KEYS.jti, onlyInRedisJti)).toBe(String(claimsOf(onlyInRedis).exp));
    await pollUntil(
      () => api(D, valid),
      (x) => x.status === 200,
      { withinMs: EVENTUALLY_MS, everyMs: 50, since: restartedAt, what: 'deny gateway serving again after the restart' },
    );
    // both reconnected, resubscribed and re-read Redis (L serves from its mirror meanwhile, which lacks onlyInRedis)
    for (const g of [D, L]) await waitReady(g);
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
    await pollUntil(
      () => api(L, next.access_token),
      (x) => x.status === 401,
      { withinMs: EVENTUALLY_MS, since, what: 'reuse revoking the family' },
    );
    // A gateway that never saw the old Redis process honours them too.
    const E = await started(rawFor('deny'));
    for (const t of [revoked, onlyInRedis, next.access_token]) expectError(await api(E, t), 401, 'invalid_token');
    expect((await api(E, valid)).status).toBe(200);
  }, 120_000);
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
    redis = await startRedis([], port); // no data: a fresh dir
    const r = redisClient();
    expect(await r.dbsize()).toBe(0);
    await pollUntil(
      async () => ({ jti: await members(r, KEYS.jti), subject: await members(r, KEYS.subject), family: await members(r, KEYS.family) }),
      (v) => v.jti.includes(jti) && v.jti.includes(claimsOf(session.access_token).jti as string) && v.subject.includes('empty-sub') && v.family.includes(sid),
      { withinMs: EVENTUALLY_MS, everyMs: 100, what: 'revocations written back to the empty Redis' },
    );
    const F = await started(rawFor('deny'));
    for (const t of [byJti, bySub, session.access_token]) expectError(await api(F, t), 401, 'invalid_token');
    expectError(await refresh(F.url, session.refresh_token), 401, 'invalid_grant');
    expect((await api(F, await accessToken(files, 'empty-other'))).status).toBe(200);
    await waitReady(D);
  }, 90_000);
});

describe('Redis stalled (SIGSTOP: frozen with its connections open until the checks are done)', () => {
  it('no pile-up: 50 concurrent requests answer within the budget while Redis is frozen; deny turns to 503 once the stall is noticed, allow keeps serving', async () => {
    const valid = await accessToken(files, 'stall-valid');
    const revokedJti = crypto.randomUUID();
    const revoked = await accessToken(files, 'stall-revoked', revokedJti);
    expect((await adminRevoke(D, { jti: revokedJti, exp: claimsOf(revoked).exp })).status).toBe(204);
    await pollUntil(
      () => api(L, revoked),
      (x) => x.status === 401,
      { withinMs: EVENTUALLY_MS, what: 'revocation on L' },
    );
    for (const g of [D, L]) {
      await waitReady(g);
      expect((await api(g, valid)).status).toBe(200);
    }
    const session = await login(D.url, USERS[3], PW[USERS[3]] as string);

    /** fails (instead of hanging until the test times out) if an answer waits for Redis, which stays frozen until the end */
    const whileFrozen = async <T>(p: Promise<T>, what: string): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer after ${EVENTUALLY_MS} ms of frozen Redis: it waits on Redis`)), EVENTUALLY_MS);
      });
      try {
        return await Promise.race([p, hang]);
      } finally {
        clearTimeout(timer);
      }
    };
    const burst = async (what: string, send: () => Promise<Reply>, n = 50) => {
      const t0 = performance.now();
      const replies = await whileFrozen(Promise.all(Array.from({ length: n }, send)), what);
      return { what, replies, wall: performance.now() - t0 };
    };

    redis.pause();
    let frozen = true;
    try {
      // Sent before the stall can have been noticed, so it goes to Redis and times out: 503 (F02). (Its first Redis
      // command is the refresh throttle's peek, so the rotation itself is not sent; scripts.test.ts covers a rotation
      // that times out and is undone, F03.)
      const stalledRefresh = whileFrozen(refresh(D.url, session.refresh_token), 'refresh');
      // Right after the stall starts: cached tokens never wait on Redis; D may not have noticed yet (200 from the mirror) or has (503).
      const early = await Promise.all([
        burst('early D', () => api(D, valid)),
        burst('early L', () => api(L, valid)),
        burst('early L revoked', () => api(L, revoked), 10),
      ]);
      // Requests that must talk to Redis: bounded by commandTimeout, not by the stall.
      const writes = await burst('admin revokes', () => adminRevoke(D, { jti: crypto.randomUUID(), exp: Math.floor(Date.now() / 1000) + 60 }));
      const logins = await burst('logins', () => postJson(D.url, '/auth/login', { username: USERS[3], password: 'wrong' }));
      // The heartbeat (1 s) times out (commandTimeout): D notices by itself and denies; L still serves from the mirror.
      await whileFrozen(
        pollUntil(
          () => api(D, valid),
          (x) => x.status === 503,
          { withinMs: EVENTUALLY_MS, what: 'D noticing the stall' },
        ),
        'D noticing the stall',
      );
      const late = await Promise.all([
        burst('late D', () => api(D, valid)),
        burst('late L', () => api(L, valid)),
        burst('late D revoked', () => api(D, revoked), 10),
      ]);
      const refreshed = await stalledRefresh;
      // Every answer above came while Redis was still frozen: nothing waited for it.
      redis.resume();
      frozen = false;

      expectUnavailable(refreshed);
      expect(refreshed.ms).toBeLessThan(BUDGET_MS);
      for (const b of [...early, writes, logins, ...late]) {
        expect(b.wall, `${b.what}: a burst of concurrent requests during the stall`).toBeLessThan(BUDGET_MS);
        for (const r of b.replies) expect(r.ms, b.what).toBeLessThan(BUDGET_MS);
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
    } finally {
      if (frozen) redis.resume();
    }
    // and it recovers by itself
    await pollUntil(
      () => api(D, valid),
      (x) => x.status === 200,
      { withinMs: EVENTUALLY_MS, what: 'D serving after the stall' },
    );
    await waitReady(D);
    expectError(await api(D, revoked), 401, 'invalid_token');
    // the refresh token answered with 503 during the stall refreshes exactly once
    expectTokens(await refresh(D.url, session.refresh_token));
    expectError(await refresh(D.url, session.refresh_token), 401, 'invalid_grant');
  }, 180_000);
});
