/**
 * Shared set-up for the Redis store tests (issue #4, SPEC §2, §5 step 5, §6,
 * SECURITY.md F01-F06, O03): an issuer with a real users file and a real
 * signing key, gateways that share one real redis-server, direct access to
 * Redis with ioredis, and timing helpers. Everything listens on loopback and
 * every test file stops what it starts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import { subjectCutoffTtl } from '../../src/config/derived.js';
import { createLogger } from '../../src/observe/log.js';
import type { RevocationMirror } from '../../src/store/mirror.js';
import { RedisStore } from '../../src/store/redis/store.js';
import { configFrom, LogCapture, startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import type { TestUpstream } from '../helpers/upstream.js';
import { ISS, hashed, request, writeUsers, type Reply, type UserEntry } from '../tokens-service/support.js';

export { ISS };

/** Redis key names of src/store/redis/scripts.ts (keysFor) for a key prefix (every key carries the `{gh}` hash tag). */
export function redisKeys(prefix: string) {
  return {
    jti: `${prefix}{gh}:revoked:jti`,
    family: `${prefix}{gh}:revoked:family`,
    subject: `${prefix}{gh}:revoked:subject`,
    channel: `${prefix}{gh}:events`,
  };
}

export interface IssuerFiles {
  dir: string;
  key: TestKey;
  keyFile: string;
  usersFile: string;
  cleanup(): void;
}

/** A signing key and a users file (argon2id hashes) in a fresh temp dir. */
export async function issuerFiles(passwords: Record<string, string>): Promise<IssuerFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
  const key = await makeKey('ES256', `store-${Math.random().toString(36).slice(2, 8)}`);
  const keyFile = writeJwkFile(key.privateJwk, dir);
  const usersFile = join(dir, 'users.yaml');
  const users: UserEntry[] = [];
  for (const [username, pw] of Object.entries(passwords)) users.push({ username, password: await hashed(pw), roles: [], scope: 'orders:read' });
  writeUsers(usersFile, users);
  return { dir, key, keyFile, usersFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface GatewayRawOptions {
  files: IssuerFiles;
  upstream: string;
  /** the whole `revocation.redis` section */
  redis: Record<string, unknown>;
  onStoreError?: 'deny' | 'allow';
  throttle?: Record<string, unknown>;
  server?: Record<string, unknown>;
  admin?: Record<string, unknown>;
}

/** A gateway config (the YAML shape) with the issuer, a Redis store, /api/** (required) and /public/** (public). */
export function gatewayRaw(o: GatewayRawOptions): Record<string, unknown> {
  return {
    log: { level: 'info' },
    ...(o.server ? { server: o.server } : {}),
    ...(o.admin ? { admin: o.admin } : {}),
    issuer: {
      iss: ISS,
      audience: 'api',
      accessTokenTtl: '15m',
      refreshTokenTtl: '14d',
      signingKeys: [{ file: o.files.keyFile }],
      users: { file: o.files.usersFile },
      grants: ['password', 'refresh_token'],
      ...(o.throttle ? { throttle: o.throttle } : {}),
    },
    revocation: { store: 'redis', redis: o.redis, onStoreError: o.onStoreError ?? 'deny' },
    identity: { headers: { 'X-User-Id': 'sub' } },
    routes: [
      { name: 'public', match: { path: '/public/**' }, upstream: o.upstream, auth: 'public' },
      { name: 'api', match: { path: '/api/**' }, upstream: o.upstream, auth: 'required' },
    ],
  };
}

/**
 * How long a gateway may take to connect to Redis, subscribe and load its
 * mirror. Generous on purpose: a loaded machine can take seconds, and nothing
 * here is a latency claim (a ready gateway returns at once).
 */
export const READY_WITHIN_MS = 30_000;

/** Polls /readyz until 200 (store connected, subscribed and in sync; keys loaded). */
export async function waitReady(g: Pick<TestGateway, 'adminUrl'>, withinMs = READY_WITHIN_MS): Promise<void> {
  await pollUntil(
    () => request(g.adminUrl, '/readyz'),
    (r) => r.status === 200,
    { withinMs, everyMs: 50, what: `${g.adminUrl}/readyz answering 200` },
  );
}

/**
 * startGateway, then wait until it is ready. Gateway.start gives the store
 * 3 s to sync and then starts anyway (reporting itself down); a test that
 * asserts 401s or 200s right after start needs the store in sync first.
 */
export async function startReady(raw: Record<string, unknown>): Promise<TestGateway> {
  const g = await startGateway(raw);
  try {
    await waitReady(g);
  } catch (err) {
    await g.stop();
    throw err;
  }
  return g;
}

/** Like startGateway, but with a store built here (e.g. a short reconcile period). */
export async function startWithStore(
  raw: Record<string, unknown>,
  storeOpts: { reconcileEveryMs?: number; heartbeatEveryMs?: number },
): Promise<TestGateway & { store: RedisStore }> {
  const config = configFrom({ ...raw, server: { listen: '127.0.0.1:0' }, admin: { listen: '127.0.0.1:0' } });
  const logs = new LogCapture();
  const logger = createLogger('info', logs);
  const store = new RedisStore({ config: config.revocation.redis, logger, subjectTtlSeconds: subjectCutoffTtl(config), ...storeOpts });
  await store.start(READY_WITHIN_MS);
  expect(store.state()).toEqual({ ok: true });
  const gw = await Gateway.start({ config, logger, store });
  return {
    gw,
    store,
    url: `http://127.0.0.1:${gw.address().port}`,
    adminUrl: `http://127.0.0.1:${gw.adminAddress()!.port}`,
    logs,
    stop: () => gw.stop(),
  };
}

/** The store's local mirror, for the memory-bound checks (white box: there is no public accessor). */
export function mirrorOf(gw: Gateway): RevocationMirror {
  return (gw.store as unknown as { mirror: RevocationMirror }).mirror;
}

/** A self-issued access token signed with the issuer key (what /auth/login would mint, minus sid). */
export function accessToken(files: IssuerFiles, sub: string, jti: string = crypto.randomUUID(), ttl = 600): Promise<string> {
  return signToken(files.key, { roles: [], scope: 'orders:read' }, { iss: ISS, aud: 'api', sub, jti, ttl });
}

export function adminRevoke(g: Pick<TestGateway, 'adminUrl'>, body: Record<string, unknown>): Promise<Reply> {
  return request(g.adminUrl, '/admin/revoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/**
 * GET /api/... with a token; `reached` says whether `up` saw this very request.
 * Each call carries its own `probe` query parameter and is looked up by it, so
 * concurrent calls (or traffic from other tests) sharing `up` cannot make one
 * call's answer look like another's.
 */
export async function callApi(g: TestGateway, up: TestUpstream, token: string, path = '/api/orders'): Promise<{ reply: Reply; reached: boolean }> {
  const probe = `${path}${path.includes('?') ? '&' : '?'}probe=${crypto.randomUUID()}`;
  const reply = await request(g.url, probe, { token });
  return { reply, reached: up.seen.some((s) => s.url === probe) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` every `everyMs` until `done` holds; returns the last value and
 * the milliseconds from `since` to the moment it held. Fails after `withinMs`.
 */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  opts: { withinMs: number; everyMs?: number; since?: number; what: string },
): Promise<{ value: T; elapsed: number }> {
  const since = opts.since ?? performance.now();
  let last: T | undefined;
  for (;;) {
    last = await probe();
    const elapsed = performance.now() - since;
    if (done(last)) return { value: last, elapsed };
    if (elapsed > opts.withinMs) throw new Error(`${opts.what}: not within ${opts.withinMs} ms (last: ${JSON.stringify(last)})`);
    await sleep(opts.everyMs ?? 50);
  }
}

/**
 * Polls `g` every 50 ms with `token` until it refuses it. Asserts that no
 * request sent `withinMs` or more after `since` was still served (the
 * revocation was enforced within `withinMs`), that the refusal is a 401
 * invalid_token with the challenge, and that the upstream saw neither that
 * request nor any of three later ones (checked per request, so polls may run
 * concurrently on one upstream). Requests are timed by when they were sent:
 * a loaded machine that is slow to deliver an answer, or to run this loop,
 * cannot turn an enforced revocation into a failure. Returns when (ms after
 * `since`) the first refused request was sent.
 */
export async function expectRejectedWithin(
  g: TestGateway,
  up: TestUpstream,
  token: string,
  since: number,
  withinMs: number,
  what = 'revocation reaching the instance',
): Promise<number> {
  for (;;) {
    const sentAt = performance.now() - since;
    const { reply, reached } = await callApi(g, up, token);
    if (reply.status === 200) {
      if (sentAt >= withinMs) throw new Error(`${what}: a request sent ${Math.round(sentAt)} ms after was still served (limit ${withinMs} ms)`);
      await sleep(50);
      continue;
    }
    expect(reply.status, reply.text).toBe(401);
    expect(JSON.parse(reply.text)).toMatchObject({ error: 'invalid_token' });
    expect(reply.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(reached).toBe(false);
    for (let i = 0; i < 3; i++) {
      const later = await callApi(g, up, token);
      expect(later.reply.status).toBe(401);
      expect(later.reached).toBe(false);
    }
    return sentAt;
  }
}

/** SPEC §5.5: a revocation made on one instance is enforced by `g` within 1 s of `since`. */
export function expectRejectedWithin1s(g: TestGateway, up: TestUpstream, token: string, since: number): Promise<number> {
  return expectRejectedWithin(g, up, token, since, 1000, 'revocation reaching the other instance');
}

/** A plain ioredis connection for looking at (or writing behind the back of) the store; quiet while the server is away. */
export function rawRedis(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  return r;
}

/** redis-server arguments that allow DEBUG SLEEP: Redis 7 refuses DEBUG unless enabled, older servers allow it and do not know the option. */
export function debugCommandArgs(): string[] {
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
  const major = Number(/v=(\d+)/.exec(version)?.[1] ?? 0);
  return major >= 7 ? ['--enable-debug-command', 'local'] : [];
}

/** Sorted-set members as a plain array. */
export async function members(r: Redis, key: string): Promise<string[]> {
  return r.zrange(key, 0, -1);
}

/** Prometheus counter value, summed over the label sets of `name`. */
export async function metricSum(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
