import { ExpiringMap, RevocationMirror } from './mirror.js';
import type { Counter, RevocationStore, RevokedBy, RotateResult, SessionStore, StoreState, TokenRef } from './types.js';

interface Family {
  sub: string;
  current: string;
}

export class MemoryStore implements RevocationStore, SessionStore {
  readonly kind = 'memory' as const;
  protected readonly mirror = new RevocationMirror();
  private readonly familyState = new ExpiringMap<Family>();
  private readonly counters = new ExpiringMap<number>();
  private readonly records = new ExpiringMap<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(sweepEveryMs = 60_000) {
    this.timer = setInterval(() => this.sweep(), sweepEveryMs);
    this.timer.unref();
  }

  state(): StoreState {
    return { ok: true };
  }

  async createFamily(sid: string, sub: string, jti: string, exp: number): Promise<void> {
    this.familyState.set(sid, { sub, current: jti }, exp);
  }

  // No await between read and write: within one process this is atomic.
  async rotateFamily(sid: string, jti: string, nextJti: string, exp: number): Promise<RotateResult> {
    if (this.mirror.families.get(sid)) return 'revoked';
    const family = this.familyState.get(sid);
    if (!family) return 'unknown';
    if (family.current !== jti) {
      this.familyState.delete(sid);
      this.mirror.families.set(sid, true, exp);
      return 'reused';
    }
    this.familyState.set(sid, { sub: family.sub, current: nextJti }, exp);
    return 'rotated';
  }

  async hit(key: string, windowSeconds: number): Promise<Counter> {
    const now = Date.now() / 1000;
    const e = this.counters.entry(key, now);
    const until = e?.until ?? now + windowSeconds;
    const count = (e?.value ?? 0) + 1;
    this.counters.set(key, count, until);
    return { count, resetIn: until - now };
  }

  async peek(key: string): Promise<Counter> {
    const now = Date.now() / 1000;
    const e = this.counters.entry(key, now);
    return e ? { count: e.value, resetIn: e.until - now } : { count: 0, resetIn: 0 };
  }

  async reset(key: string): Promise<void> {
    this.counters.delete(key);
  }

  check(ref: TokenRef): RevokedBy | null {
    return this.mirror.check(ref);
  }

  async revokeJti(jti: string, exp: number): Promise<void> {
    this.mirror.jtis.set(jti, true, exp);
  }

  async revokeSubject(sub: string, at: number, ttlSeconds: number): Promise<void> {
    const prev = this.mirror.subjects.get(sub) ?? 0;
    this.mirror.subjects.set(sub, Math.max(prev, at), at + ttlSeconds);
  }

  async revokeFamily(sid: string, exp: number): Promise<void> {
    this.mirror.families.set(sid, true, exp);
  }

  async putRecord(kind: string, key: string, value: string, ttlSeconds: number): Promise<void> {
    this.records.set(`${kind}:${key}`, value, Date.now() / 1000 + ttlSeconds);
  }

  async getRecord(kind: string, key: string): Promise<string | null> {
    return this.records.get(`${kind}:${key}`) ?? null;
  }

  async deleteRecord(kind: string, key: string): Promise<boolean> {
    return this.records.delete(`${kind}:${key}`);
  }

  async takeRecord(kind: string, key: string): Promise<string | null> {
    const v = this.records.get(`${kind}:${key}`) ?? null;
    this.records.delete(`${kind}:${key}`);
    return v;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  protected sweep(): void {
    this.mirror.sweep();
    this.familyState.sweep();
    this.counters.sweep();
    this.records.sweep();
  }
}
