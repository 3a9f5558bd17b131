import { isIP } from 'node:net';
import type { ListenAddress } from './schema.js';

/**
 * Network address grammars the config uses, as pure parsers: each returns
 * null for malformed text so the validator can report it with its YAML path,
 * and run-time code (trusted proxies, the Redis client) parses the same way.
 */

/** "10.0.0.0/8" | "::1" -> [address, prefix, family]; null when malformed. */
export function parseCidr(text: string): [string, number, 'ipv4' | 'ipv6'] | null {
  const [addr, prefixText, extra] = text.split('/');
  if (extra !== undefined || !addr) return null;
  const family = isIP(addr);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) return null;
  return [addr, prefix, family === 4 ? 'ipv4' : 'ipv6'];
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A listener address: "host:port", "[v6]:port" or ":port" (all interfaces); null when malformed. */
export function parseListen(text: string): ListenAddress | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) return null;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * Whether two listeners would fight over one socket: the same port on the same
 * host, or on a wildcard address that covers the other (Linux refuses
 * 127.0.0.1:P while 0.0.0.0:P or [::]:P is bound). Port 0 never clashes.
 */
export function listenersClash(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.host === b.host) return true;
  const covers = (wild: string, other: string) => WILDCARDS.has(wild) && (wild === '::' ? isIP(other) !== 0 : isIP(other) === 4 || other === '::');
  return covers(a.host, b.host) || covers(b.host, a.host);
}

/**
 * A Redis Cluster node or Sentinel: "host:port" or "[v6]:port", optionally
 * prefixed with "redis://". Stricter than "anything ending in :digits": an
 * unbracketed IPv6 address, a scheme other than redis://, credentials, a path
 * or a port above 65535 can only ever fail to connect.
 */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:redis:\/\/)?(?:\[([0-9a-fA-F:.]+)\]|([^\s/:@[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}

/**
 * Why ioredis would throw on this redis:// or rediss:// URL at start-up, or
 * null. The URL is never quoted back: it may carry a password.
 */
export function redisUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a valid redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379, rediss://user:password@host:6380/0)';
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return 'has a malformed %-escape in its user name or password (write a literal "%" as %25)';
  }
  return null;
}

/** "host:port", with IPv6 hosts in brackets. */
export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
