import { storeUnavailable } from '../errors.js';
import type { Logger } from '../observe/log.js';
import type { RevocationStore } from '../store/types.js';

/** What a session or revocation write needs besides the store. */
export interface WriteDeps {
  readonly logger: Logger;
  /** counted once per failed write */
  onWriteError(): void;
}

/**
 * The one write-or-503 wrapper: a store failure while changing revocation or
 * session state answers 503, never "succeeded" when nothing was recorded
 * (SECURITY.md F03-F04).
 */
export async function durable<T>(deps: WriteDeps, op: () => Promise<T>, what: Record<string, unknown>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    deps.onWriteError();
    deps.logger.error({ err: (err as Error).message, ...what }, 'store write failed');
    throw storeUnavailable('store_write_failed');
  }
}

/** A verified token's revocable parts. */
export interface Revocable {
  jti: string | undefined;
  sid: string | undefined;
  exp: number;
}

/**
 * The one rule for revoking a leaked or logged-out access token: its jti until
 * it expires and, when it belongs to a login session, that session's refresh
 * family (for as long as a refresh token can live), so nothing descended from
 * the same login survives. Returns what was revoked, for the caller's log.
 */
export async function revokeAccessToken(
  store: RevocationStore,
  deps: WriteDeps,
  token: Revocable,
  familyTtlSeconds: number,
  withFamily: boolean,
): Promise<Record<string, unknown>> {
  const now = Math.floor(Date.now() / 1000);
  const done: Record<string, unknown> = {};
  if (withFamily && token.sid) {
    const sid = token.sid;
    await durable(deps, () => store.revokeFamily(sid, now + familyTtlSeconds), { op: 'revoke_family', sid });
    done.sid = sid;
  }
  if (token.jti) {
    const jti = token.jti;
    await durable(deps, () => store.revokeJti(jti, token.exp), { op: 'revoke_jti', jti });
    done.jti = jti;
    done.exp = token.exp;
  }
  return done;
}

/** A whole login session (refresh family), remembered as long as a refresh token can live. */
export function revokeFamily(store: RevocationStore, deps: WriteDeps, sid: string, familyTtlSeconds: number): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  return durable(deps, () => store.revokeFamily(sid, now + familyTtlSeconds), { op: 'revoke_family', sid });
}
