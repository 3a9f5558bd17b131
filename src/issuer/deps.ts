import type { IssuerConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import type { RevocationStore, SessionStore } from '../store/types.js';
import type { LoadedKey } from '../tokens/keys.js';
import type { Users } from '../tokens/users-watch.js';
import type { IssuerEntry, VerifiedToken } from '../tokens/verifier.js';

/**
 * State the token service keeps across config reloads (a reload builds new
 * routes, but an attempt still being checked must keep counting).
 */
export class IssuerState {
  /** login attempts whose password is still being checked, per throttle key: they count as failures until they are known not to be */
  readonly checking = new Map<string, number>();
  /** users whose weak password hash was already logged */
  readonly warnedWeak = new Set<string>();

  track(keys: readonly string[], delta: number): void {
    for (const k of keys) {
      const n = (this.checking.get(k) ?? 0) + delta;
      if (n > 0) this.checking.set(k, n);
      else this.checking.delete(k);
    }
  }
}

/** What Gatehouse's own token endpoints need; the Runtime provides it when `issuer` is configured. */
export interface IssuerDeps {
  readonly issuer: IssuerConfig;
  readonly maxTokenBytes: number;
  /** the first signs */
  readonly signingKeys: readonly LoadedKey[];
  /** the issuer's own verification entry (refresh tokens are checked against it) */
  readonly self: IssuerEntry;
  /** the users file as it is now (watched: edits apply without a reload) */
  readonly users: Users | null;
  readonly verifier: { verify(token: string): VerifiedToken | Promise<VerifiedToken> };
  readonly store: RevocationStore & SessionStore;
  readonly logger: Logger;
  readonly state: IssuerState;
  /** counted per endpoint and outcome */
  countRequest(endpoint: string, outcome: string): void;
  /** counted once per failed store write */
  onWriteError(): void;
}

export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** 400 invalid_grant (the JSON API answers it 401): a bad code, verifier or refresh token, with the table's description unless given. */
export const invalidGrant = (reason: string, description?: string) =>
  new GatewayError('invalid_grant', reason, { headers: NO_STORE, ...(description !== undefined ? { description } : {}) });
export const BODY_LIMIT = 16 * 1024;
export const seconds = (ms: number): number => Math.round(ms / 1000);
