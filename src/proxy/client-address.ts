import { BlockList, isIPv4 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { parseCidr } from '../config/net.js';

export function trustedProxyList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const parsed = parseCidr(c);
    if (parsed) list.addSubnet(parsed[0], parsed[1], parsed[2]);
  }
  return list;
}

export function plainIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export function isTrusted(list: BlockList, ip: string): boolean {
  try {
    return list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}

/**
 * The client address: the peer, unless the peer is a trusted proxy, in which
 * case X-Forwarded-For is walked right to left past trusted proxies
 * (SECURITY.md O12, P06). An attacker's own XFF entries are never believed.
 */
export function clientAddress(req: IncomingMessage, trusted: BlockList, anyTrusted: boolean): string {
  const peer = plainIp(req.socket.remoteAddress);
  if (!anyTrusted || !isTrusted(trusted, peer)) return peer;
  const xff = req.headers['x-forwarded-for'];
  if (!xff) return peer;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plainIp(hops[i]);
    if (!isTrusted(trusted, hop)) return hop;
  }
  return hops[0] ?? peer;
}
