import { domainToASCII } from 'node:url';
import { invalidRequest } from '../errors.js';
import type { Stage } from './context.js';

const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._~!$&'()*+,;=-]+))(?::(\d*))?$/;
/** a DNS name: labels of letters, digits, "-" and "_" (internal names use it), at most 253 octets */
const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(?:\.(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?))*$/;
const DOTTED_QUAD = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** WHATWG URL's "ends in a number": such a name is an IPv4 address to browsers and many libraries, in whatever form */
const ENDS_IN_NUMBER = /(?:^|\.)(?:\d+|0[xX][0-9a-fA-F]*)\.?$/;

/**
 * The one canonical spelling of a Host header (security round 2, item 1), or
 * why it is refused. Route rules compare this form and the upstream receives
 * it, so a name cannot dodge `match.host` by being spelled another way that a
 * backend or a second proxy reads as the same host:
 * - letter case is folded, one trailing dot removed (`API.Example.` is
 *   `api.example`), IDN labels checked as punycode (`XN--BCHER-KVA` is
 *   `xn--bcher-kva`; a label that is not valid punycode is refused);
 * - IPv4 only as a plain dotted quad: `127.1`, `0x7f.1`, `0177.0.0.1` are
 *   the same address to a URL parser, so they are refused, not guessed at;
 * - IPv6 in its compressed lower-case form (`[0:0::1]` is `[::1]`);
 * - a port with leading zeros or out of range is refused, an empty one or
 *   the listener's default port (80, or 443 over TLS) is removed.
 */
export function canonicalHost(header: string, tls: boolean): string | { refused: string } {
  const m = HOST.exec(header);
  if (!m) return { refused: 'Malformed Host header' };
  const port = m[3];
  let portPart = '';
  if (port !== undefined && port !== '') {
    if (port.length > 1 && port.startsWith('0')) return { refused: 'Host header port with leading zeros' };
    const n = Number(port);
    if (n < 1 || n > 65535) return { refused: 'Host header port out of range' };
    if (n !== (tls ? 443 : 80)) portPart = `:${n}`;
  }
  if (m[1] !== undefined) {
    let ip: string;
    try {
      ip = new URL(`http://[${m[1]}]/`).hostname;
    } catch {
      return { refused: 'Malformed IPv6 address in Host header' };
    }
    return ip + portPart;
  }
  let name = (m[2] as string).toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (ENDS_IN_NUMBER.test(name)) return DOTTED_QUAD.test(name) ? name + portPart : { refused: 'Host header IPv4 address in a non-canonical form' };
  if (!DNS_NAME.test(name)) return { refused: 'Malformed host name in Host header' };
  if (name.includes('xn--') && domainToASCII(name) !== name) return { refused: 'Host header name is not valid punycode' };
  return name + portPart;
}

/** P17: exactly one Host (HTTP/1.1 requires it, RFC 9112 §3.2), well formed, in its canonical form. */
export const checkHost: Stage = (ctx) => {
  let hosts = 0;
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === 4 && (raw[i] as string).toLowerCase() === 'host') hosts++;
  const host = ctx.req.headers.host;
  if (hosts > 1) throw invalidRequest('More than one Host header', 'duplicate_host', true);
  if (hosts === 0 && ctx.req.httpVersion !== '1.0') throw invalidRequest('Missing Host header', 'missing_host', true);
  if (host === undefined) return;
  const canonical = canonicalHost(host, (ctx.req.socket as { encrypted?: boolean }).encrypted === true);
  if (typeof canonical !== 'string') throw invalidRequest(canonical.refused, 'bad_host', true);
  ctx.host = canonical;
};
