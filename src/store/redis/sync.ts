import type { Logger } from '../../observe/log.js';
import type { RevocationMirror } from '../mirror.js';
import type { StoreState } from '../types.js';
import { execResult, type Client } from './client.js';
import type { Keys, RevocationEvent } from './scripts.js';

export interface MirrorSyncOptions {
  /** commands: reconcile, write-back, heartbeat */
  client: Client;
  /** the subscriber connection (a subscribed connection can run nothing else) */
  sub: Client;
  mirror: RevocationMirror;
  keys: Keys;
  logger: Logger;
  /** how long a subject cut-off is remembered (seconds) */
  subjectTtlSeconds: number;
  reconcileEveryMs: number;
  heartbeatEveryMs: number;
  onError?: ((kind: string) => void) | undefined;
  /** where the store connects (password redacted), named in log lines and /readyz */
  target: string;
}

/** Reports of an unreachable Redis are spaced out: at once, then after 2, 4, 8 ... s, at most every 60 s. */
const FIRST_REPORT_GAP_MS = 2000;
const MAX_REPORT_GAP_MS = 60_000;

/**
 * Keeps the local mirror fresh and knows whether it can be trusted. The
 * mirror is loaded at start, kept fresh by pub/sub, and re-read on every
 * reconnect and every `reconcileEveryMs`, so a missed message heals. A
 * reconcile also writes back entries the mirror has and Redis lost (a restart
 * without persistence), so no revocation is forgotten while any instance
 * remembers it. A heartbeat marks the store down when Redis stops answering.
 */
export class MirrorSync {
  private synced = false;
  private healthy = false;
  /** without a live subscription a revocation made elsewhere could be missed: not healthy until resubscribed */
  private subscribed = false;
  private reason = 'connecting to Redis';
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private reconciling: Promise<void> | null = null;
  /** unreachable reports: when the next one may be logged, and the gap after it */
  private nextReportAt = 0;
  private reportGapMs = FIRST_REPORT_GAP_MS;
  private downSince = 0;

  constructor(private readonly opts: MirrorSyncOptions) {
    const { client, sub, keys } = opts;
    for (const c of [client, sub]) {
      c.on('error', (err: Error) => this.connectionFailed(c, err));
      // a close after a connection error keeps that error's cause as the reason
      c.on('close', () => {
        if (this.healthy) this.markDown(`Redis connection to ${opts.target} closed`);
      });
    }
    client.on('ready', () => void this.reconcile());
    sub.on('ready', () => {
      // Messages sent while we were away are lost: re-read everything once subscribed again.
      void sub.subscribe(keys.channel).then(
        () => {
          this.subscribed = true;
          return this.reconcile();
        },
        (err: Error) => this.markDown(`subscribe failed: ${err.message}`),
      );
    });
    sub.on('close', () => {
      this.subscribed = false;
    });
    sub.on('message', (_channel: string, message: string) => this.apply(message));
    this.timers.push(setInterval(() => void this.reconcile(), opts.reconcileEveryMs));
    this.timers.push(setInterval(() => void this.heartbeat(), opts.heartbeatEveryMs));
    for (const t of this.timers) t.unref();
  }

  state(): StoreState {
    if (this.healthy && this.synced && this.subscribed) return { ok: true };
    return { ok: false, reason: this.healthy && this.synced ? 'Redis subscription not established' : this.reason };
  }

  /** Stops the timers and ignores the connections' last events; the owner closes the connections. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
  }

  private apply(message: string): void {
    let e: RevocationEvent;
    try {
      e = JSON.parse(message) as RevocationEvent;
    } catch {
      return;
    }
    if (typeof e.id !== 'string' || typeof e.v !== 'number') return;
    const { mirror } = this.opts;
    if (e.t === 'j') mirror.jtis.set(e.id, true, e.v);
    else if (e.t === 'f') mirror.families.set(e.id, true, e.v);
    else if (e.t === 's') {
      const prev = mirror.subjects.get(e.id) ?? 0;
      mirror.subjects.set(e.id, Math.max(prev, e.v), e.v + this.opts.subjectTtlSeconds);
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
    const { client, keys, mirror } = this.opts;
    // The mirror only drops an expired entry when a lookup hits it: sweep the rest, so memory stays bounded by live tokens (also while Redis is away).
    mirror.sweep();
    if (this.closed || client.status !== 'ready') return;
    const now = Math.floor(Date.now() / 1000);
    const subjectFloor = now - this.opts.subjectTtlSeconds;
    try {
      const [, , , jtis, fams, subs] = (await client
        .multi()
        .zremrangebyscore(keys.jti, '-inf', now)
        .zremrangebyscore(keys.fam, '-inf', now)
        .zremrangebyscore(keys.subj, '-inf', subjectFloor)
        .zrange(keys.jti, 0, -1, 'WITHSCORES')
        .zrange(keys.fam, 0, -1, 'WITHSCORES')
        .zrange(keys.subj, 0, -1, 'WITHSCORES')
        .exec()
        .then(execResult)) as [unknown, unknown, unknown, string[], string[], string[]];
      const inRedis = { j: new Set<string>(), f: new Set<string>(), s: new Set<string>() };
      for (let i = 0; i < jtis.length; i += 2) {
        mirror.jtis.set(jtis[i] as string, true, Number(jtis[i + 1]));
        inRedis.j.add(jtis[i] as string);
      }
      for (let i = 0; i < fams.length; i += 2) {
        mirror.families.set(fams[i] as string, true, Number(fams[i + 1]));
        inRedis.f.add(fams[i] as string);
      }
      for (let i = 0; i < subs.length; i += 2) {
        const sub = subs[i] as string;
        const cutoff = Number(subs[i + 1]);
        const prev = mirror.subjects.get(sub) ?? 0;
        mirror.subjects.set(sub, Math.max(prev, cutoff), Math.max(prev, cutoff) + this.opts.subjectTtlSeconds);
        inRedis.s.add(sub);
      }
      await this.writeBack(inRedis, now);
      if (!this.synced || !this.healthy) this.opts.logger.info({ redis: this.opts.target }, `revocation store: Redis in sync (${this.opts.target})`);
      this.nextReportAt = 0;
      this.reportGapMs = FIRST_REPORT_GAP_MS;
      this.downSince = 0;
      this.synced = true;
      this.healthy = true;
    } catch (err) {
      this.markDown(`Redis reconcile failed: ${(err as Error).message}`);
    }
  }

  /** Entries only this process still remembers (Redis restarted empty, or a write raced a crash) go back to Redis. */
  private async writeBack(inRedis: { j: Set<string>; f: Set<string>; s: Set<string> }, now: number): Promise<void> {
    const { client, keys, mirror } = this.opts;
    const missing: Array<[key: string, score: number, id: string]> = [];
    for (const [id, e] of mirror.jtis.entries()) if (e.until > now && !inRedis.j.has(id)) missing.push([keys.jti, e.until, id]);
    for (const [id, e] of mirror.families.entries()) if (e.until > now && !inRedis.f.has(id)) missing.push([keys.fam, e.until, id]);
    for (const [id, e] of mirror.subjects.entries()) if (e.until > now && !inRedis.s.has(id)) missing.push([keys.subj, e.value, id]);
    const n = missing.length;
    if (n === 0) return;
    const m = client.multi();
    for (const [key, score, id] of missing) m.zadd(key, 'GT', score, id);
    await m.exec().then(execResult);
    this.opts.logger.warn({ restored: n }, 'revocation store: wrote back revocations Redis had lost');
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    const { client } = this.opts;
    try {
      await client.ping();
      if (!this.healthy && client.status === 'ready') await this.reconcile();
    } catch (err) {
      // while the connection is down its own error names the cause: ioredis' "stream isn't writeable" would hide it
      if (client.status === 'ready') this.markDown(`Redis at ${this.opts.target} not answering: ${(err as Error).message}`);
    }
  }

  /**
   * A connection error: while Redis cannot be reached (at start or after an
   * outage) one line names the address and the cause, repeated with growing
   * gaps while ioredis keeps reconnecting; /readyz says the same.
   */
  private connectionFailed(c: Client, err: Error): void {
    if (this.closed) return;
    const cause = err.message || err.name;
    if (c.status === 'ready') return this.markDown(`Redis error at ${this.opts.target}: ${cause}`);
    const now = Date.now();
    if (this.downSince === 0) this.downSince = now;
    this.markDown(`Redis unreachable at ${this.opts.target}: ${cause}`);
    if (now < this.nextReportAt) return;
    const down = Math.round((now - this.downSince) / 1000);
    const next = Math.round(this.reportGapMs / 1000);
    this.opts.logger.error(
      { redis: this.opts.target, cause },
      `revocation store: Redis unreachable at ${this.opts.target} (${cause}); ${down > 0 ? `down ${down} s, ` : ''}retrying, next report in ${next} s`,
    );
    this.nextReportAt = now + this.reportGapMs;
    this.reportGapMs = Math.min(this.reportGapMs * 2, MAX_REPORT_GAP_MS);
  }

  private markDown(reason: string): void {
    if (this.closed) return;
    if (this.healthy) this.opts.logger.error({ reason }, 'revocation store unavailable');
    this.opts.onError?.('unavailable');
    this.healthy = false;
    this.reason = reason;
  }
}
