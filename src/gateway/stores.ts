import { subjectCutoffTtl } from '../config/derived.js';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis/store.js';
import type { RevocationStore, SessionStore } from '../store/types.js';

/** The configured store. A Redis store that cannot connect yet still starts: it reports itself down (503 on protected routes, /readyz 503) and keeps retrying. */
export async function createStore(config: GatehouseConfig, logger: Logger, metrics: Metrics): Promise<RevocationStore & SessionStore> {
  if (config.revocation.store === 'memory') return new MemoryStore();
  const store = new RedisStore({
    config: config.revocation.redis,
    logger,
    subjectTtlSeconds: subjectCutoffTtl(config),
    onError: (kind) => metrics.storeErrors.labels(kind).inc(),
  });
  await store.start();
  return store;
}

export function isSessionStore(s: RevocationStore): s is RevocationStore & SessionStore {
  return typeof (s as Partial<SessionStore>).rotateFamily === 'function';
}

/** One view over a revocation store and a session store (the same object in production; separate only when a caller supplies both). */
export function combineStores(r: RevocationStore, s: SessionStore): RevocationStore & SessionStore {
  if ((r as unknown) === s) return r as RevocationStore & SessionStore;
  return {
    kind: r.kind,
    state: () => r.state(),
    check: (ref) => r.check(ref),
    revokeJti: (jti, exp) => r.revokeJti(jti, exp),
    revokeSubject: (sub, at, ttl) => r.revokeSubject(sub, at, ttl),
    revokeFamily: (sid, exp) => r.revokeFamily(sid, exp),
    close: () => r.close(),
    createFamily: (sid, sub, jti, exp) => s.createFamily(sid, sub, jti, exp),
    rotateFamily: (sid, jti, next, exp) => s.rotateFamily(sid, jti, next, exp),
    hit: (key, w) => s.hit(key, w),
    peek: (key) => s.peek(key),
    reset: (key) => s.reset(key),
    putRecord: (kind, key, value, ttl) => s.putRecord(kind, key, value, ttl),
    getRecord: (kind, key) => s.getRecord(kind, key),
    deleteRecord: (kind, key) => s.deleteRecord(kind, key),
    takeRecord: (kind, key) => s.takeRecord(kind, key),
  };
}
