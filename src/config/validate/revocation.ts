import { parseHostPort, redisUrlProblem } from '../net.js';
import { DEFAULTS, type GatehouseConfig, type RedisConfig } from '../schema.js';
import type { Obj, Reader, StrListOptions } from './reader.js';

/** `revocation:` — where revocations, refresh sessions and login counters live. */
export function readRevocation(r: Reader, raw: unknown): GatehouseConfig['revocation'] {
  const rv = r.obj(raw, 'revocation', ['store', 'redis', 'onStoreError']) ?? {};
  const rr = r.obj(rv.redis, 'revocation.redis', ['url', 'cluster', 'sentinels', 'name', 'keyPrefix', 'commandTimeout']) ?? {};
  const storeKind = rv.store ?? DEFAULTS.revocation.store;
  if (storeKind !== 'memory' && storeKind !== 'redis') r.fail('revocation.store', 'must be "memory" or "redis"');
  const onStoreError = rv.onStoreError ?? DEFAULTS.revocation.onStoreError;
  if (onStoreError !== 'deny' && onStoreError !== 'allow') r.fail('revocation.onStoreError', 'must be "deny" or "allow"');
  return { store: storeKind as 'memory' | 'redis', redis: readRedis(r, rr), onStoreError: onStoreError as 'deny' | 'allow' };
}

/** `revocation.redis:` — one server (url), a Cluster, or Sentinels; checked even with the memory store, so switching stores never uncovers an old typo. */
function readRedis(r: Reader, rr: Obj): RedisConfig {
  // Cluster nodes and Sentinels go to ioredis as { host, port }: the store refuses anything else at start-up.
  const node: StrListOptions = {
    nonEmpty: true,
    each: (item, p) => {
      if (!parseHostPort(item)) r.fail(p, 'must be "host:port" (e.g. 10.0.0.1:6379, [fd00::1]:6379)');
    },
  };
  const redis: RedisConfig = {
    url: rr.cluster || rr.sentinels ? null : (r.str(rr.url, 'revocation.redis.url', DEFAULTS.revocation.redis.url) ?? null),
    cluster: rr.cluster == null ? null : r.strList(rr.cluster, 'revocation.redis.cluster', [], node),
    sentinels: rr.sentinels == null ? null : r.strList(rr.sentinels, 'revocation.redis.sentinels', [], node),
    sentinelName: rr.name == null ? null : r.str(rr.name, 'revocation.redis.name'),
    keyPrefix: r.str(rr.keyPrefix, 'revocation.redis.keyPrefix', DEFAULTS.revocation.redis.keyPrefix) ?? 'gatehouse:',
    commandTimeoutMs: r.duration(rr.commandTimeout, 'revocation.redis.commandTimeout', DEFAULTS.revocation.redis.commandTimeout),
  };
  if (redis.url && !/^rediss?:\/\//.test(redis.url)) r.fail('revocation.redis.url', 'must be a redis:// or rediss:// URL');
  else if (redis.url) {
    const why = redisUrlProblem(redis.url);
    if (why) r.fail('revocation.redis.url', why);
  }
  if (redis.sentinels && !redis.sentinelName) r.fail('revocation.redis.name', 'is required with sentinels (the master group name)');
  return redis;
}
