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

/** Outcome of presenting a refresh token (RFC 9700 §4.14.2). */
export type RotateResult = 'rotated' | 'reused' | 'revoked' | 'unknown';

export interface Counter {
  count: number;
  /** seconds until the window resets */
  resetIn: number;
}

/**
 * Login-session state: refresh-token families, login-failure counters, and
 * small records with a lifetime (browser sessions, sign-in flows, OAuth codes
 * and consents: sessions/records.ts). Every operation is atomic across all
 * instances sharing the store.
 */
export interface SessionStore {
  putRecord(kind: string, key: string, value: string, ttlSeconds: number): Promise<void>;
  getRecord(kind: string, key: string): Promise<string | null>;
  deleteRecord(kind: string, key: string): Promise<boolean>;
  takeRecord(kind: string, key: string): Promise<string | null>;
  /** a new login session whose current refresh token is `jti`; it lives until `exp` (epoch seconds) */
  createFamily(sid: string, sub: string, jti: string, exp: number): Promise<void>;
  /**
   * Atomically: when `jti` is the family's current token, make `nextJti` current
   * (until `exp`) and answer 'rotated'. When it is an older token of the
   * family, revoke the whole family and answer 'reused'. A revoked or unknown
   * family answers 'revoked' / 'unknown' and changes nothing.
   */
  rotateFamily(sid: string, jti: string, nextJti: string, exp: number): Promise<RotateResult>;
  /** count one failure under `key` in a fixed window of `windowSeconds` */
  hit(key: string, windowSeconds: number): Promise<Counter>;
  peek(key: string): Promise<Counter>;
  reset(key: string): Promise<void>;
}
