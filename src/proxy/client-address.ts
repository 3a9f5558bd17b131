import { BlockList, isIPv4 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { parseCidr } from '../config/net.js';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici must not be handed. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'expect', 'http2-settings']);

/**
 * Method-override headers: a backend that honours them would run a DELETE that
 * the route table matched as a GET, so they never pass.
 */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/** Headers Gatehouse writes itself: a client's copy never reaches the upstream (SECURITY.md P05-P06). */
export const MANAGED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded', 'x-real-ip', 'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-request-id', ...METHOD_OVERRIDES]);

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
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plainIp(hops[i]);
    if (!isTrusted(trusted, hop)) return hop;
  }
  return hops[0] ?? peer;
}

/** Lower-cased name with "_" read as "-": `X_User_Id` is the same header to CGI/WSGI/nginx-style backends. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}
