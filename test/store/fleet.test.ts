/**
 * A fleet of Gatehouse instances sharing one real redis-server (issue #4,
 * SPEC §2, §3, §5 step 5): revocations made on one instance are enforced by
 * the others within 1 s, refresh rotation is atomic across instances
 * (SECURITY.md O03), login throttling is shared, revocations survive a
 * Gatehouse restart, a missed pub/sub message heals at the next reconcile,
 * and expired revocations leave Redis and the mirror.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { claimsOf, expectError, expectTokens, login, postJson, refresh, type Reply, type TokenResponse } from '../tokens-service/support.js';
import {
  accessToken,
  adminRevoke,
  callApi,
  expectRejectedWithin,
  expectRejectedWithin1s,
  gatewayRaw,
  issuerFiles,
  members,
  mirrorOf,
  pollUntil,
  rawRedis,
  redisKeys,
  sleep,
  startReady,
  startWithStore,
  type IssuerFiles,
} from './support.js';

const PREFIX = `gh-fleet-${process.pid}:`;
const KEYS = redisKeys(PREFIX);
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';
const TARGET = 'target@example.com';
const PW: Record<string, string> = { [ALICE]: 'alice-pw', [BOB]: 'bob-pw', [CAROL]: 'carol-pw', [TARGET]: 'target-pw' };

let redis: TestRedis;
let raw: Redis;
let files: IssuerFiles;
let upA: TestUpstream;
let upB: TestUpstream;
let A: TestGateway;
let B: TestGateway;
/** stopped by afterAll if a test left them running */
const extra = new Set<{ stop(): Promise<void> }>();

// commandTimeout: nothing here tests timeouts, and a short one fires spuriously when a loaded machine stalls the event loop (store down, 503)
const rawFor = (up: TestUpstream) =>
  gatewayRaw({
    files,
    upstream: up.url,
    redis: { url: redis.url, keyPrefix: PREFIX, commandTimeout: '5s' },
    throttle: { perUser: 3, perIp: 1000, window: '1m' },
  });
const logout = (g: TestGateway, t: TokenResponse): Promise<Reply> => postJson(g.url, '/auth/logout', {}, { authorization: `Bearer ${t.access_token}` });

beforeAll(async () => {
  [redis, files, upA, upB] = await Promise.all([startRedis(), issuerFiles(PW), startUpstream(), startUpstream()]);
  raw = rawRedis(redis.url);
  [A, B] = await Promise.all([startReady(rawFor(upA)), startReady(rawFor(upB))]);
}, 90_000);

afterAll(async () => {
  await Promise.all([...extra].map((g) => g.stop().catch(() => {})));
  await Promise.all([A?.stop(), B?.stop()]);
  raw?.disconnect();
  await Promise.all([upA?.close(), upB?.close()]);
  await redis?.stop();
  files?.cleanup();
});

describe('a revocation on instance A is enforced by instance B within 1 s', () => {
  it('admin {jti, exp}', async () => {
    const jti = crypto.randomUUID();
    const token = await accessToken(files, 'fleet-jti', jti);
    expect((await callApi(B, upB, token)).reply.status).toBe(200); // cached as valid on B
    const r = await adminRevoke(A, { jti, exp: claimsOf(token).exp });
    expect(r.status, r.text).toBe(204);
    await expectRejectedWithin1s(B, upB, token, performance.now());
    expect(await raw.zscore(KEYS.jti, jti)).toBe(String(claimsOf(token).exp));
  });

  it('admin {sub}: every token of the subject issued before now', async () => {
    const [t1, t2] = await Promise.all([accessToken(files, 'fleet-sub'), accessToken(files, 'fleet-sub')]);
    const other = await accessToken(files, 'fleet-other');
    for (const t of [t1, t2, other]) expect((await callApi(B, upB, t)).reply.status).toBe(200);
    const r = await adminRevoke(A, { sub: 'fleet-sub' });
    expect(r.status, r.text).toBe(204);
    const since = performance.now();
    await expectRejectedWithin1s(B, upB, t1, since);
    await expectRejectedWithin1s(B, upB, t2, since);
    expect((await callApi(B, upB, other)).reply.status).toBe(200);
  });

  it('admin {token}: that access token and its login session', async () => {
    const t = await login(A.url, ALICE, PW[ALICE] as string);
    expect((await callApi(B, upB, t.access_token)).reply.status).toBe(200);
    const r = await adminRevoke(A, { token: t.access_token });
    expect(r.status, r.text).toBe(204);
    await expectRejectedWithin1s(B, upB, t.access_token, performance.now());
    expectError(await refresh(B.url, t.refresh_token), 401, 'invalid_grant');
  });

  it('/auth/logout', async () => {
    const t = await login(A.url, BOB, PW[BOB] as string);
    expect((await callApi(B, upB, t.access_token)).reply.status).toBe(200);
    const r = await logout(A, t);
    expect(r.status, r.text).toBe(204);
    await expectRejectedWithin1s(B, upB, t.access_token, performance.now());
    expectError(await refresh(B.url, t.refresh_token), 401, 'invalid_grant');
  });
});

describe('refresh rotation across instances (SECURITY.md O03)', () => {
  it('10 parallel refreshes of one token over A and B: exactly one 200, then the family is dead everywhere', async () => {
    const t = await login(A.url, CAROL, PW[CAROL] as string);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => refresh(i % 2 === 0 ? A.url : B.url, t.refresh_token)));
    const ok = replies.filter((r) => r.status === 200);
    expect(ok.length, replies.map((r) => `${r.status} ${r.text}`).join('\n')).toBe(1);
    for (const r of replies) if (r.status !== 200) expectError(r, 401, 'invalid_grant');
    const winner = expectTokens(ok[0] as Reply);
    // The losers presented an already-used token: the whole family is revoked (RFC 9700 §4.14.2).
    const since = performance.now();
    await expectRejectedWithin1s(A, upA, winner.access_token, since);
    await expectRejectedWithin1s(B, upB, winner.access_token, since);
    expectError(await refresh(A.url, winner.refresh_token), 401, 'invalid_grant');
    expectError(await refresh(B.url, winner.refresh_token), 401, 'invalid_grant');
    expect(await raw.zscore(KEYS.family, claimsOf(winner.access_token).sid as string)).not.toBeNull();
  });
});

describe('login throttling is shared (issue.throttle.perUser: 3)', () => {
  it('failures on A count on B', async () => {
    const fail = (g: TestGateway) => postJson(g.url, '/auth/login', { username: TARGET, password: 'wrong' });
    expectError(await fail(A), 401, 'invalid_credentials');
    expectError(await fail(A), 401, 'invalid_credentials');
    expectError(await fail(B), 401, 'invalid_credentials');
    // Three failures across the fleet: both instances now refuse even the right password.
    for (const g of [A, B]) {
      const r = await postJson(g.url, '/auth/login', { username: TARGET, password: PW[TARGET] });
      expectError(r, 429, 'too_many_requests');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});

describe('revocations live in Redis, not in a Gatehouse process', () => {
  it('a restarted instance rejects tokens revoked before it started', async () => {
    const first = await startReady(rawFor(upA));
    extra.add(first);
    const jti = crypto.randomUUID();
    const byJti = await accessToken(files, 'restart-jti', jti);
    const bySub = await accessToken(files, 'restart-sub');
    const session = await login(first.url, ALICE, PW[ALICE] as string);
    expect((await adminRevoke(first, { jti, exp: claimsOf(byJti).exp })).status).toBe(204);
    expect((await adminRevoke(first, { sub: 'restart-sub' })).status).toBe(204);
    expect((await logout(first, session)).status).toBe(204);
    await first.stop();
    extra.delete(first);

    const C = await startReady(rawFor(upA));
    extra.add(C);
    for (const t of [byJti, bySub, session.access_token]) {
      const { reply, reached } = await callApi(C, upA, t);
      expectError(reply, 401, 'invalid_token');
      expect(reached).toBe(false);
    }
    expectError(await refresh(C.url, session.refresh_token), 401, 'invalid_grant');
    expect((await callApi(C, upA, await accessToken(files, 'restart-other'))).reply.status).toBe(200);
    await C.stop();
    extra.delete(C);
  }, 90_000);

  it('a revocation whose pub/sub message was missed is picked up by the next reconcile', async () => {
    const R = await startWithStore(rawFor(upA), { reconcileEveryMs: 300 });
    extra.add(R);
    const jti = crypto.randomUUID();
    const byJti = await accessToken(files, 'missed-jti', jti);
    const bySub = await accessToken(files, 'missed-sub');
    const session = await login(R.url, BOB, PW[BOB] as string);
    const tokens = [byJti, bySub, session.access_token];
    for (const t of tokens) {
      const { reply, reached } = await callApi(R, upA, t);
      expect(reply.status, reply.text).toBe(200);
      expect(reached).toBe(true);
    }
    const now = Math.floor(Date.now() / 1000);
    // Written behind the store's back, with no PUBLISH: only a reconcile can tell R.
    await raw.zadd(KEYS.jti, claimsOf(byJti).exp as number, jti);
    await raw.zadd(KEYS.subject, now, 'missed-sub');
    await raw.zadd(KEYS.family, now + 3600, claimsOf(session.access_token).sid as string);
    // Each poll checks its own requests at the shared upstream, so the three may run at once. The deadline is
    // generous (a loaded machine delays timers); what proves the periodic reconcile did it is that nothing else
    // could: no message was published, and R never lost Redis (checked below), so no reconnect or recovery re-read.
    const since = performance.now();
    await Promise.all(tokens.map((t) => expectRejectedWithin(R, upA, t, since, 15_000, 'the next reconcile picking up a missed revocation')));
    expect(R.logs.lines.filter((l) => l.msg === 'revocation store unavailable')).toEqual([]);
    expect(R.store.state()).toEqual({ ok: true });
    await R.stop();
    extra.delete(R);
  }, 60_000);

  it('revocations of tokens that expire leave Redis and the mirror', async () => {
    const R = await startWithStore(rawFor(upA), { reconcileEveryMs: 300 });
    extra.add(R);
    const ids: string[] = Array.from({ length: 20 }, () => crypto.randomUUID());
    // soon, but far enough out that recording and checking 20 revocations finishes first even on a loaded machine
    const exp = Math.floor(Date.now() / 1000) + 5;
    const replies = await Promise.all(ids.map((jti) => adminRevoke(R, { jti, exp })));
    for (const r of replies) expect(r.status, r.text).toBe(204);
    const mirror = mirrorOf(R.gw);
    const inMirror = () => new Set([...mirror.jtis.entries()].map(([id]) => id));
    for (const jti of ids) expect(await raw.zscore(KEYS.jti, jti)).toBe(String(exp));
    expect(ids.every((id) => inMirror().has(id))).toBe(true);
    expect(Date.now() / 1000, 'the checks above ran before the revocations expired').toBeLessThan(exp);
    // Nothing looks these ids up again: they must go without a lookup (no lazy-only expiry).
    await sleep(Math.max(0, exp * 1000 - Date.now()));
    await pollUntil(
      async () => ({ redis: (await members(raw, KEYS.jti)).filter((id) => ids.includes(id)).length, mirror: ids.filter((id) => inMirror().has(id)).length }),
      (v) => v.redis === 0 && v.mirror === 0,
      { withinMs: 15_000, everyMs: 100, what: 'expired revocations leaving Redis and the mirror' },
    );
    await R.stop();
    extra.delete(R);
  }, 60_000);
});
