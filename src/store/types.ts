/**
 * The revocation store. The hot path only ever calls the synchronous
 * `check`/`state` (a local view kept fresh by the implementation), so a
 * request never waits on the network; writes are async and only succeed once
 * the revocation is durable for every instance that shares the store.
 */
export interface TokenRef {
  jti?: string | undefined;
  sub?: string | undefined;
  /** seconds */
  iat?: number | undefined;
  /** login session / refresh family */
  sid?: string | undefined;
}

export type RevokedBy = 'jti' | 'subject' | 'family';

export type StoreState = { ok: true } | { ok: false; reason: string };

export interface RevocationStore {
  readonly kind: 'memory' | 'redis';
  /** usable right now? `check` answers from the last good view either way */
  state(): StoreState;
  /** why a token is dead, or null */
  check(ref: TokenRef): RevokedBy | null;
  /** revoke one token id until its expiry (epoch seconds) */
  revokeJti(jti: string, exp: number): Promise<void>;
  /** every token of `sub` issued at or before `at` (epoch seconds); remembered for `ttlSeconds` */
  revokeSubject(sub: string, at: number, ttlSeconds: number): Promise<void>;
  /** a whole login session (refresh family) until `exp` (epoch seconds) */
  revokeFamily(sid: string, exp: number): Promise<void>;
  close(): Promise<void>;
}
