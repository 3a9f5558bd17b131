import type { RevocationStore, RevokedBy, StoreState } from '../../src/store/types.js';

/**
 * A revocation store that is down: the one test double in these tests (a
 * real redis-server covers the store's real failure modes in test/security
 * and test/store). It implements the interface, nothing more.
 */
export class DownStore implements RevocationStore {
  readonly kind = 'redis' as const;
  constructor(private readonly reason = 'connection refused (test double)') {}
  state(): StoreState {
    return { ok: false, reason: this.reason };
  }
  check(): RevokedBy | null {
    return null;
  }
  async revokeJti(): Promise<void> {
    throw new Error('store down');
  }
  async revokeSubject(): Promise<void> {
    throw new Error('store down');
  }
  async revokeFamily(): Promise<void> {
    throw new Error('store down');
  }
  async close(): Promise<void> {}
}
