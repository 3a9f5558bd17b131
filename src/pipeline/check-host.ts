import { invalidRequest } from '../errors.js';
import type { Stage } from './context.js';

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=-]+)(?::\d{1,5})?$/;

/** P17: exactly one Host (HTTP/1.1 requires it, RFC 9112 §3.2), no userinfo, no path. */
export const checkHost: Stage = (ctx) => {
  let hosts = 0;
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === 4 && (raw[i] as string).toLowerCase() === 'host') hosts++;
  const host = ctx.req.headers.host;
  if (hosts > 1) throw invalidRequest('More than one Host header', 'duplicate_host', true);
  if (hosts === 0 && ctx.req.httpVersion !== '1.0') throw invalidRequest('Missing Host header', 'missing_host', true);
  if (host !== undefined && !HOST.test(host)) throw invalidRequest('Malformed Host header', 'bad_host', true);
};
