import type { RevocationStore, TokenRef } from '../store/types.js';

/** Why a long-lived connection was ended. */
export type EndReason = 'token expired' | 'token revoked';

interface Watched {
  readonly token: TokenRef & { exp: number };
  readonly end: (why: EndReason) => void;
}

/** How often live connections are checked: a revocation seen by this instance ends them within this bound (plus the store's own propagation). */
export const WATCH_INTERVAL_MS = 250;

/**
 * Connections that outlive their request (WebSocket tunnels) are held to the
 * token that opened them: each is ended when that token expires (exp plus
 * the clock tolerance the verifier allows) and when a revocation covering it
 * (jti, subject cut-off, login session) reaches this instance's view of the
 * store. The check is the same synchronous `store.check` the request path
 * uses, so a revocation made on any instance of a fleet is honoured here as
 * soon as the local mirror has it.
 */
export class ConnectionWatch {
  private readonly live = new Set<Watched>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: () => Pick<RevocationStore, 'check'>,
    private readonly toleranceMs: () => number,
  ) {}

  get size(): number {
    return this.live.size;
  }

  /** Watches one connection; the returned function stops watching it (call it when the connection closes). */
  add(token: TokenRef & { exp: number }, end: (why: EndReason) => void): () => void {
    const entry: Watched = { token, end };
    this.live.add(entry);
    this.timer ??= setInterval(() => this.sweep(), WATCH_INTERVAL_MS).unref();
    return () => this.remove(entry);
  }

  /** Checks every live connection now. */
  sweep(): void {
    const now = Date.now();
    const store = this.store();
    const tolerance = this.toleranceMs();
    for (const entry of this.live) {
      const why: EndReason | null = entry.token.exp * 1000 + tolerance <= now ? 'token expired' : store.check(entry.token) ? 'token revoked' : null;
      if (why) {
        this.remove(entry);
        entry.end(why);
      }
    }
  }

  close(): void {
    this.live.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private remove(entry: Watched): void {
    this.live.delete(entry);
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
