import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../../config/schema.js';

/** One connection to a single Redis (direct or via Sentinel) or to a Redis Cluster. */
export type Client = Redis | Cluster;

function hostPort(text: string): { host: string; port: number } {
  const m = /^(?:redis:\/\/)?\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) throw new TypeError(`revocation.redis: "${text}" must be host:port`);
  return { host: m[1] as string, port: Number(m[2]) };
}

/**
 * ioredis queues commands while disconnected and has no command timeout by
 * default (SECURITY.md F02): both are turned off here so a dead or slow Redis
 * turns into fast errors, never a pile-up of waiting requests.
 */
export function createClient(cfg: RedisConfig): Client {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: cfg.commandTimeoutMs,
    connectTimeout: Math.max(1000, cfg.commandTimeoutMs * 4),
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    autoResubscribe: true,
  };
  if (cfg.cluster) {
    return new Cluster(cfg.cluster.map(hostPort), {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: base,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
    });
  }
  if (cfg.sentinels) {
    return new Redis({ ...base, sentinels: cfg.sentinels.map(hostPort), name: cfg.sentinelName ?? 'mymaster' });
  }
  return new Redis(cfg.url ?? 'redis://127.0.0.1:6379', base);
}

/**
 * Where the store connects, as an operator wrote it, for log lines and
 * /readyz: the URL without its password, or the sentinel or cluster addresses.
 */
export function describeTarget(cfg: RedisConfig): string {
  if (cfg.cluster) return `cluster ${cfg.cluster.join(',')}`;
  if (cfg.sentinels) return `sentinels ${cfg.sentinels.join(',')} (master ${cfg.sentinelName ?? 'mymaster'})`;
  const url = cfg.url ?? 'redis://127.0.0.1:6379';
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Starts connecting; failures are left to the retry strategy and the 'error'/'close' handlers. */
export function connect(c: Client): void {
  void (c instanceof Cluster ? c.connect() : c.connect()).catch(() => {});
}

/** Quits politely, or drops the connection when that fails (Redis already gone). */
export async function disconnect(c: Client): Promise<void> {
  await c.quit().catch(() => c.disconnect());
}

/** The replies of a MULTI/EXEC, throwing the first error (or an aborted transaction) instead of returning it. */
export function execResult(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('transaction aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
