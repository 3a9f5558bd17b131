import type { RedisConfig } from '../../config/schema.js';
import type { Logger } from '../../observe/log.js';
import { RevocationMirror } from '../mirror.js';
import type { Counter, RevocationStore, RevokedBy, RotateResult, SessionStore, StoreState, TokenRef } from '../types.js';
import { connect, createClient, describeTarget, disconnect, execResult, type Client } from './client.js';
import { keysFor, withScripts, type Keys, type RevocationEvent, type ScriptCommands } from './scripts.js';
import { MirrorSync } from './sync.js';

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

/**
 * The fleet store (issue #4). Revocations live in Redis sorted sets (member
 * = id, score = expiry or cut-off), so they outlive any Gatehouse process and
 * expire with the tokens they cover. Each process keeps a local mirror the hot
 * path reads synchronously, kept fresh by `MirrorSync` (sync.ts). Refresh
 * families and counters are changed by Lua scripts (scripts.ts), atomically
 * across the fleet. Connections are made in client.ts.
 */
export class RedisStore implements RevocationStore, SessionStore {
  readonly kind = 'redis' as const;
  private readonly mirror = new RevocationMirror();
  private readonly client: Client & ScriptCommands;
  private readonly sub: Client;
  private readonly keys: Keys;
  private readonly sync: MirrorSync;

  constructor(opts: RedisStoreOptions) {
    this.keys = keysFor(opts.config.keyPrefix);
    this.client = withScripts(createClient(opts.config));
    this.sub = createClient(opts.config);
    this.sync = new MirrorSync({
      client: this.client,
      sub: this.sub,
      mirror: this.mirror,
      keys: this.keys,
      logger: opts.logger,
      subjectTtlSeconds: opts.subjectTtlSeconds,
      reconcileEveryMs: opts.reconcileEveryMs ?? 10_000,
      heartbeatEveryMs: opts.heartbeatEveryMs ?? 1000,
      onError: opts.onError,
      target: describeTarget(opts.config),
    });
  }

  /** Connects both clients; resolves once the mirror is loaded or after `waitMs` (the store then reports itself down and keeps trying). */
  async start(waitMs = 3000): Promise<void> {
    connect(this.client);
    connect(this.sub);
    const deadline = Date.now() + waitMs;
    while (!this.state().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }

  state(): StoreState {
    return this.sync.state();
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
    await this.client.ghCutoff(this.keys.subj, sub, String(at), this.keys.channel);
    const prev = this.mirror.subjects.get(sub) ?? 0;
    this.mirror.subjects.set(sub, Math.max(prev, at), at + ttlSeconds);
  }

  /** ZADD GT keeps the later expiry if two instances revoke the same id. */
  private async write(key: string, e: RevocationEvent): Promise<void> {
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
      result = await this.client.ghRotate(key, this.keys.fam, jti, nextJti, String(exp), sid, this.keys.channel);
    } catch (err) {
      this.client.ghUnrotate(key, jti, nextJti).catch(() => 0);
      throw err;
    }
    if (result === 'reused') this.mirror.families.set(sid, true, exp);
    return result;
  }

  async hit(key: string, windowSeconds: number): Promise<Counter> {
    const [count, ms] = await this.client.ghHit(this.keys.counter(key), String(windowSeconds));
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

  /** Full re-read of the revocation sets now (also runs by itself on every reconnect and every `reconcileEveryMs`). */
  reconcile(): Promise<void> {
    return this.sync.reconcile();
  }

  async putRecord(kind: string, key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.client.set(this.keys.record(kind, key), value, 'EX', Math.max(1, Math.ceil(ttlSeconds)));
  }

  async getRecord(kind: string, key: string): Promise<string | null> {
    return this.client.get(this.keys.record(kind, key));
  }

  async deleteRecord(kind: string, key: string): Promise<boolean> {
    return (await this.client.del(this.keys.record(kind, key))) > 0;
  }

  /** GETDEL (Redis 6.2): read and delete in one step, so a single-use record is redeemed once across the fleet. */
  async takeRecord(kind: string, key: string): Promise<string | null> {
    return this.client.getdel(this.keys.record(kind, key));
  }

  async close(): Promise<void> {
    this.sync.close();
    await Promise.all([disconnect(this.client), disconnect(this.sub)]);
  }
}
