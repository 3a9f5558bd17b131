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
