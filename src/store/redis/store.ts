import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../../config/schema.js';
import type { Logger } from '../../observe/log.js';
import { RevocationMirror } from '../mirror.js';
import type { Counter, RevocationStore, RevokedBy, RotateResult, SessionStore, StoreState, TokenRef } from '../types.js';

type Client = Redis | Cluster;

export interface RedisStoreOptions {
  config: RedisConfig;
  logger: Logger;
  /** how long a subject cut-off is remembered (seconds) */
  subjectTtlSeconds: number;
  /** full re-read of the revocation sets, healing any missed pub/sub message */
  reconcileEveryMs?: number;
  /** liveness probe period; a probe that fails or exceeds commandTimeout marks the store down */
  heartbeatEveryMs?: number;
  onError?: (kind: string) => void;
}

interface Event {
  /** j = jti, f = family, s = subject cut-off */
  t: 'j' | 'f' | 's';
  id: string;
  /** jti/family: expiry (epoch s); subject: cut-off (epoch s) */
  v: number;
}

/**
 * Rotation and reuse detection in one atomic step (RFC 9700 §4.14.2), so N
 * instances racing with one refresh token get exactly one 'rotated'.
 * KEYS: family hash, revoked-families zset. ARGV: presented jti, next jti,
 * new expiry, sid, event channel.
 */
const ROTATE = `
if redis.call('ZSCORE', KEYS[2], ARGV[4]) then return 'revoked' end
local cur = redis.call('HGET', KEYS[1], 'cur')
if not cur then return 'unknown' end
if cur ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[4])
  redis.call('PUBLISH', ARGV[5], cjson.encode({t = 'f', id = ARGV[4], v = tonumber(ARGV[3])}))
  return 'reused'
end
redis.call('HSET', KEYS[1], 'cur', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 'rotated'
`;

/**
 * Undoes a rotation whose answer never came back (the command timed out, so
 * the caller answers 503 and the new refresh token is never handed out).
 * Redis may still run the rotation once it catches up; this runs right after
 * it on the same connection, so the presented token stays current
 * (SECURITY.md F02-F03). KEYS: family hash. ARGV: presented jti, next jti.
 */
const UNROTATE = `
if redis.call('HGET', KEYS[1], 'cur') == ARGV[2] then redis.call('HSET', KEYS[1], 'cur', ARGV[1]) end
return 0
`;

/** Subject cut-offs only move forward. KEYS: subjects zset. ARGV: sub, cut-off, channel. */
const CUTOFF = `
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
if prev and tonumber(prev) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], cjson.encode({t = 's', id = ARGV[1], v = tonumber(ARGV[2])}))
return 1
`;

/** Fixed-window failure counter. KEYS: counter. ARGV: window seconds. Returns {count, ms left} (PTTL: TTL's whole seconds would round Retry-After down). */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) * 1000 end
return {n, ttl}
`;

/**
 * The fleet store (issue #4). Revocations live in Redis sorted sets (member
 * = id, score = expiry or cut-off), so they outlive any Gatehouse process and
 * expire with the tokens they cover. Each process keeps a local mirror the hot
 * path reads synchronously; it is loaded at start, kept fresh by pub/sub, and
 * re-read on every reconnect and every `reconcileEveryMs`, so a missed
 * message heals. A reconcile also writes back entries the mirror has and
 * Redis lost (a restart without persistence), so no revocation is forgotten
 * while any instance remembers it.
 *
 * Every key shares the hash tag `{gh}`: the Lua scripts touch several keys
 * atomically, and Redis Cluster only allows that within one slot.
 */
export class RedisStore implements RevocationStore, SessionStore {
  readonly kind = 'redis' as const;
  private readonly mirror = new RevocationMirror();
  private readonly client: Client;
  private readonly sub: Client;
  private readonly keys: { jti: string; fam: string; subj: string; channel: string; family: (sid: string) => string; counter: (k: string) => string };
  private synced = false;
  private healthy = false;
  /** without a live subscription a revocation made elsewhere could be missed: not healthy until resubscribed */
  private subscribed = false;
  private reason = 'connecting to Redis';
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private reconciling: Promise<void> | null = null;

  constructor(private readonly opts: RedisStoreOptions) {
    const p = opts.config.keyPrefix;
    this.keys = {
      jti: `${p}{gh}:revoked:jti`,
      fam: `${p}{gh}:revoked:family`,
      subj: `${p}{gh}:revoked:subject`,
      channel: `${p}{gh}:events`,
      family: (sid) => `${p}{gh}:family:${sid}`,
      counter: (k) => `${p}{gh}:count:${k}`,
    };
    this.client = createClient(opts.config);
    this.sub = createClient(opts.config);
    for (const c of [this.client, this.sub]) {
      c.on('error', (err: Error) => this.markDown(`Redis error: ${err.message}`));
      c.on('close', () => this.markDown('Redis connection closed'));
    }
    this.client.on('ready', () => void this.reconcile());
    this.sub.on('ready', () => {
      // Messages sent while we were away are lost: re-read everything once subscribed again.
      void this.sub.subscribe(this.keys.channel).then(
        () => {
          this.subscribed = true;
          return this.reconcile();
        },
        (err: Error) => this.markDown(`subscribe failed: ${err.message}`),
      );
    });
    this.sub.on('close', () => {
      this.subscribed = false;
    });
    this.sub.on('message', (_channel: string, message: string) => this.apply(message));
    this.timers.push(setInterval(() => void this.reconcile(), opts.reconcileEveryMs ?? 10_000));
    this.timers.push(setInterval(() => void this.heartbeat(), opts.heartbeatEveryMs ?? 1000));
    for (const t of this.timers) t.unref();
  }

  /** Connects both clients; resolves once the mirror is loaded or after `waitMs` (the store then reports itself down and keeps trying). */
  async start(waitMs = 3000): Promise<void> {
    const connect = (c: Client) => (c instanceof Cluster ? c.connect() : c.connect()).catch(() => {});
    void connect(this.client);
    void connect(this.sub);
    const deadline = Date.now() + waitMs;
    while (!this.state().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }

  state(): StoreState {
    if (this.healthy && this.synced && this.subscribed) return { ok: true };
    return { ok: false, reason: this.healthy && this.synced ? 'Redis subscription not established' : this.reason };
  }

  check(ref: TokenRef): RevokedBy | null {
    return this.mirror.check(ref);
  }

  async revokeJti(jti: string, exp: number): Promise<void> {
    await this.write(this.keys.jti, { t: 'j', id: jti, v: exp });
    this.mirror.jtis.set(jti, true, exp);
  }

  async revokeFamily(sid: string, exp: number): Promise<void> {
    await this.write(this.keys.fam, { t: 'f', id: sid, v: exp });
    this.mirror.families.set(sid, true, exp);
  }

  async revokeSubject(sub: string, at: number, ttlSeconds: number): Promise<void> {
    await this.client.eval(CUTOFF, 1, this.keys.subj, sub, String(at), this.keys.channel);
    const prev = this.mirror.subjects.get(sub) ?? 0;
    this.mirror.subjects.set(sub, Math.max(prev, at), at + ttlSeconds);
  }

  /** ZADD GT keeps the later expiry if two instances revoke the same id. */
  private async write(key: string, e: Event): Promise<void> {
    await this.client.zadd(key, 'GT', e.v, e.id);
    await this.client.publish(this.keys.channel, JSON.stringify(e)).catch(() => 0); // reconcile heals a lost message
  }

  async createFamily(sid: string, sub: string, jti: string, exp: number): Promise<void> {
    const key = this.keys.family(sid);
    await this.client.multi().hset(key, 'sub', sub, 'cur', jti).expireat(key, exp).exec().then(execResult);
  }

  async rotateFamily(sid: string, jti: string, nextJti: string, exp: number): Promise<RotateResult> {
    const key = this.keys.family(sid);
    let result: RotateResult;
    try {
      result = (await this.client.eval(ROTATE, 2, key, this.keys.fam, jti, nextJti, String(exp), sid, this.keys.channel)) as RotateResult;
    } catch (err) {
      this.client.eval(UNROTATE, 1, key, jti, nextJti).catch(() => 0);
      throw err;
    }
    if (result === 'reused') this.mirror.families.set(sid, true, exp);
    return result;
  }

  async hit(key: string, windowSeconds: number): Promise<Counter> {
    const [count, ms] = (await this.client.eval(HIT, 1, this.keys.counter(key), String(windowSeconds))) as [number, number];
    return { count, resetIn: ms / 1000 };
  }

  async peek(key: string): Promise<Counter> {
    const k = this.keys.counter(key);
    const [count, ms] = await Promise.all([this.client.get(k), this.client.pttl(k)]);
    const n = Number(count ?? 0);
    return n > 0 ? { count: n, resetIn: Math.max(0, ms) / 1000 } : { count: 0, resetIn: 0 };
  }

  async reset(key: string): Promise<void> {
    await this.client.del(this.keys.counter(key));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all([this.client.quit().catch(() => this.client.disconnect()), this.sub.quit().catch(() => this.sub.disconnect())]);
  }

  private apply(message: string): void {
    let e: Event;
    try {
      e = JSON.parse(message) as Event;
    } catch {
      return;
    }
    if (typeof e.id !== 'string' || typeof e.v !== 'number') return;
    if (e.t === 'j') this.mirror.jtis.set(e.id, true, e.v);
    else if (e.t === 'f') this.mirror.families.set(e.id, true, e.v);
    else if (e.t === 's') {
      const prev = this.mirror.subjects.get(e.id) ?? 0;
      this.mirror.subjects.set(e.id, Math.max(prev, e.v), e.v + this.opts.subjectTtlSeconds);
    }
  }

  /**
   * Full re-read: drop expired members in Redis, load the live ones into the
   * mirror, and write back what the mirror knows and Redis does not.
   */
  reconcile(): Promise<void> {
    this.reconciling ??= this.doReconcile().finally(() => {
      this.reconciling = null;
    });
    return this.reconciling;
  }

  private async doReconcile(): Promise<void> {
    // The mirror only drops an expired entry when a lookup hits it: sweep the rest, so memory stays bounded by live tokens (also while Redis is away).
    this.mirror.sweep();
    if (this.closed || this.client.status !== 'ready') return;
    const now = Math.floor(Date.now() / 1000);
    const subjectFloor = now - this.opts.subjectTtlSeconds;
    try {
      const [, , , jtis, fams, subs] = (await this.client
        .multi()
        .zremrangebyscore(this.keys.jti, '-inf', now)
        .zremrangebyscore(this.keys.fam, '-inf', now)
        .zremrangebyscore(this.keys.subj, '-inf', subjectFloor)
        .zrange(this.keys.jti, 0, -1, 'WITHSCORES')
        .zrange(this.keys.fam, 0, -1, 'WITHSCORES')
        .zrange(this.keys.subj, 0, -1, 'WITHSCORES')
        .exec()
        .then(execResult)) as [unknown, unknown, unknown, string[], string[], string[]];
      const inRedis = { j: new Set<string>(), f: new Set<string>(), s: new Set<string>() };
      for (let i = 0; i < jtis.length; i += 2) {
        this.mirror.jtis.set(jtis[i] as string, true, Number(jtis[i + 1]));
        inRedis.j.add(jtis[i] as string);
      }
      for (let i = 0; i < fams.length; i += 2) {
        this.mirror.families.set(fams[i] as string, true, Number(fams[i + 1]));
        inRedis.f.add(fams[i] as string);
      }
      for (let i = 0; i < subs.length; i += 2) {
        const sub = subs[i] as string;
        const cutoff = Number(subs[i + 1]);
        const prev = this.mirror.subjects.get(sub) ?? 0;
        this.mirror.subjects.set(sub, Math.max(prev, cutoff), Math.max(prev, cutoff) + this.opts.subjectTtlSeconds);
        inRedis.s.add(sub);
      }
      await this.writeBack(inRedis, now);
      if (!this.synced || !this.healthy) this.opts.logger.info('revocation store: Redis in sync');
      this.synced = true;
      this.healthy = true;
    } catch (err) {
      this.markDown(`Redis reconcile failed: ${(err as Error).message}`);
    }
  }

  /** Entries only this process still remembers (Redis restarted empty, or a write raced a crash) go back to Redis. */
  private async writeBack(inRedis: { j: Set<string>; f: Set<string>; s: Set<string> }, now: number): Promise<void> {
    const missing: Array<[key: string, score: number, id: string]> = [];
    for (const [id, e] of this.mirror.jtis.entries()) if (e.until > now && !inRedis.j.has(id)) missing.push([this.keys.jti, e.until, id]);
    for (const [id, e] of this.mirror.families.entries()) if (e.until > now && !inRedis.f.has(id)) missing.push([this.keys.fam, e.until, id]);
    for (const [id, e] of this.mirror.subjects.entries()) if (e.until > now && !inRedis.s.has(id)) missing.push([this.keys.subj, e.value, id]);
    const n = missing.length;
    if (n === 0) return;
    const m = this.client.multi();
    for (const [key, score, id] of missing) m.zadd(key, 'GT', score, id);
    await m.exec().then(execResult);
    this.opts.logger.warn({ restored: n }, 'revocation store: wrote back revocations Redis had lost');
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      await this.client.ping();
      if (!this.healthy && this.client.status === 'ready') await this.reconcile();
    } catch (err) {
      this.markDown(`Redis not answering: ${(err as Error).message}`);
    }
  }

  private markDown(reason: string): void {
    if (this.closed) return;
    if (this.healthy) this.opts.logger.error({ reason }, 'revocation store unavailable');
    this.opts.onError?.('unavailable');
    this.healthy = false;
    this.reason = reason;
  }
}

function execResult(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('transaction aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

function hostPort(text: string): { host: string; port: number } {
  const m = /^(?:redis:\/\/)?\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) throw new TypeError(`revocation.redis: "${text}" must be host:port`);
  return { host: m[1] as string, port: Number(m[2]) };
}

/**
 * ioredis queues commands while disconnected and has no command timeout by
 * default (SECURITY.md F02): both are turned off here so a dead or slow Redis
 * turns into fast errors, never a pile-up of waiting requests.
 */
function createClient(cfg: RedisConfig): Client {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: cfg.commandTimeoutMs,
    connectTimeout: Math.max(1000, cfg.commandTimeoutMs * 4),
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    autoResubscribe: true,
  };
  if (cfg.cluster) {
    return new Cluster(cfg.cluster.map(hostPort), { lazyConnect: true, enableOfflineQueue: false, redisOptions: base, clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000) });
  }
  if (cfg.sentinels) {
    return new Redis({ ...base, sentinels: cfg.sentinels.map(hostPort), name: cfg.sentinelName ?? 'mymaster' });
  }
  return new Redis(cfg.url ?? 'redis://127.0.0.1:6379', base);
}
