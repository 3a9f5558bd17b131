import type { RotateResult } from '../types.js';
import type { Client } from './client.js';

/**
 * Where the store keeps things. Every key shares the hash tag `{gh}`: the Lua
 * scripts touch several keys atomically, and Redis Cluster only allows that
 * within one slot.
 */
export interface Keys {
  /** zset: revoked jti -> expiry (epoch s) */
  jti: string;
  /** zset: revoked family (sid) -> expiry (epoch s) */
  fam: string;
  /** zset: subject -> cut-off (epoch s) */
  subj: string;
  /** pub/sub channel of revocation events */
  channel: string;
  /** hash of one refresh family: sub, cur (current jti) */
  family: (sid: string) => string;
  /** a fixed-window counter */
  counter: (k: string) => string;
  /** sessions, flows and codes (sessions/records.ts) */
  record: (kind: string, k: string) => string;
}

export function keysFor(prefix: string): Keys {
  return {
    jti: `${prefix}{gh}:revoked:jti`,
    fam: `${prefix}{gh}:revoked:family`,
    subj: `${prefix}{gh}:revoked:subject`,
    channel: `${prefix}{gh}:events`,
    family: (sid) => `${prefix}{gh}:family:${sid}`,
    counter: (k) => `${prefix}{gh}:count:${k}`,
    record: (kind, k) => `${prefix}{gh}:${kind}:${k}`,
  };
}

/** A revocation as published on the channel (by the store and by the ROTATE/CUTOFF scripts). */
export interface RevocationEvent {
  /** j = jti, f = family, s = subject cut-off */
  t: 'j' | 'f' | 's';
  id: string;
  /** jti/family: expiry (epoch s); subject: cut-off (epoch s) */
  v: number;
}

/**
 * Rotation and reuse detection in one atomic step (RFC 9700 §4.14.2), so N
 * instances racing with one refresh token get exactly one 'rotated'.
 * KEYS: family hash, revoked-families zset. ARGV: presented jti, next jti,
 * new expiry, sid, event channel.
 */
const ROTATE = `
if redis.call('ZSCORE', KEYS[2], ARGV[4]) then return 'revoked' end
local cur = redis.call('HGET', KEYS[1], 'cur')
if not cur then return 'unknown' end
if cur ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[4])
  redis.call('PUBLISH', ARGV[5], cjson.encode({t = 'f', id = ARGV[4], v = tonumber(ARGV[3])}))
  return 'reused'
end
redis.call('HSET', KEYS[1], 'cur', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 'rotated'
`;

/**
 * Undoes a rotation whose answer never came back (the command timed out, so
 * the caller answers 503 and the new refresh token is never handed out).
 * Redis may still run the rotation once it catches up; this runs right after
 * it on the same connection, so the presented token stays current
 * (SECURITY.md F02-F03). KEYS: family hash. ARGV: presented jti, next jti.
 */
const UNROTATE = `
if redis.call('HGET', KEYS[1], 'cur') == ARGV[2] then redis.call('HSET', KEYS[1], 'cur', ARGV[1]) end
return 0
`;

/** Subject cut-offs only move forward. KEYS: subjects zset. ARGV: sub, cut-off, channel. */
const CUTOFF = `
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
if prev and tonumber(prev) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], cjson.encode({t = 's', id = ARGV[1], v = tonumber(ARGV[2])}))
return 1
`;

/** Fixed-window failure counter. KEYS: counter. ARGV: window seconds. Returns {count, ms left} (PTTL: TTL's whole seconds would round Retry-After down). */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) * 1000 end
return {n, ttl}
`;

/** The scripts as commands on a client; arguments in the order of the KEYS/ARGV lists above. */
export interface ScriptCommands {
  ghRotate(family: string, revokedFamilies: string, jti: string, nextJti: string, exp: string, sid: string, channel: string): Promise<RotateResult>;
  ghUnrotate(family: string, jti: string, nextJti: string): Promise<number>;
  ghCutoff(subjects: string, sub: string, at: string, channel: string): Promise<number>;
  ghHit(counter: string, windowSeconds: string): Promise<[count: number, msLeft: number]>;
}

const SCRIPTS: Record<keyof ScriptCommands, { numberOfKeys: number; lua: string }> = {
  ghRotate: { numberOfKeys: 2, lua: ROTATE },
  ghUnrotate: { numberOfKeys: 1, lua: UNROTATE },
  ghCutoff: { numberOfKeys: 1, lua: CUTOFF },
  ghHit: { numberOfKeys: 1, lua: HIT },
};

/**
 * Registers the scripts on `client` (once per client, Redis or Cluster) with
 * ioredis `defineCommand`: a call sends EVALSHA, and the script source goes
 * over a connection only on the script's first use on that connection (a
 * reconnect is a new one) or after Redis answers NOSCRIPT (SCRIPT FLUSH),
 * never with every call.
 */
export function withScripts(client: Client): Client & ScriptCommands {
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
  return client as Client & ScriptCommands;
}
