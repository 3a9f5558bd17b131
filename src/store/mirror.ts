import type { RevokedBy, TokenRef } from './types.js';

/** Entries that disappear at an epoch-seconds deadline; swept lazily and on a timer, so memory stays bounded by live tokens. */
export class ExpiringMap<V> {
  private readonly map = new Map<string, { value: V; until: number }>();

  set(key: string, value: V, untilSeconds: number): void {
    this.map.set(key, { value, until: untilSeconds });
  }

  get(key: string, nowSeconds = Date.now() / 1000): V | undefined {
    return this.entry(key, nowSeconds)?.value;
  }

  /** value and deadline (epoch seconds), or undefined once expired */
  entry(key: string, nowSeconds = Date.now() / 1000): { value: V; until: number } | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.until <= nowSeconds) {
      this.map.delete(key);
      return undefined;
    }
    return e;
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  sweep(nowSeconds = Date.now() / 1000): void {
    for (const [k, e] of this.map) if (e.until <= nowSeconds) this.map.delete(k);
  }

  get size(): number {
    return this.map.size;
  }

  entries(): IterableIterator<[string, { value: V; until: number }]> {
    return this.map.entries();
  }
}

/** Revocation view shared by both stores: the memory store is just this view with nothing behind it. */
export class RevocationMirror {
  readonly jtis = new ExpiringMap<true>();
  readonly families = new ExpiringMap<true>();
  /** sub -> cut-off (epoch seconds): tokens issued at or before it are dead */
  readonly subjects = new ExpiringMap<number>();

  check(ref: TokenRef): RevokedBy | null {
    if (ref.jti !== undefined && this.jtis.get(ref.jti)) return 'jti';
    if (ref.sid !== undefined && this.families.get(ref.sid)) return 'family';
    if (ref.sub !== undefined) {
      const cutoff = this.subjects.get(ref.sub);
      // A token without iat cannot prove it is newer than the cut-off: fail closed.
      if (cutoff !== undefined && (ref.iat === undefined || ref.iat <= cutoff)) return 'subject';
    }
    return null;
  }

  sweep(): void {
    const now = Date.now() / 1000;
    this.jtis.sweep(now);
    this.families.sweep(now);
    this.subjects.sweep(now);
  }
}
