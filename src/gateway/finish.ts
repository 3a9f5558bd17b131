import { asGatewayError, type GatewayError } from '../errors.js';
import { clientAddress } from '../proxy/client-address.js';
import { requestIdOf } from '../http/request-id.js';
import { batchedInfoLines, type Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { RequestContext } from '../pipeline/context.js';
import type { IncomingMessage } from 'node:http';
import type { Runtime } from './runtime.js';

/** What every request handler of the main listener needs. */
export interface ListenerDeps {
  /** the current Runtime: a reload swaps it for every listener at once */
  current(): Runtime;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export function newContext(req: IncomingMessage, rt: Runtime): RequestContext {
  return {
    req,
    requestId: requestIdOf(req),
    startedAt: performance.now(),
    clientIp: clientAddress(req, rt.trusted, rt.anyTrusted),
    host: '',
    path: '',
    segments: [],
    query: '',
    route: null,
    token: null,
    credential: 'none',
    sessionId: null,
    identity: null,
    outcome: 'error',
    reason: 'ok',
  };
}

/**
 * The one end of every request, HTTP or WebSocket: metrics and the access
 * log line, exactly once. The path is logged without its query string:
 * tokens and secrets must never reach logs (SECURITY.md P28).
 */
export function createFinish(deps: ListenerDeps): (ctx: RequestContext, status: number, upstream: string | null) => void {
  const { metrics, logger } = deps;
  const access = batchedInfoLines(logger, accessFields, 'request');
  return (ctx, status, upstream) => {
    const ms = performance.now() - ctx.startedAt;
    const route = ctx.route?.name ?? '(none)';
    metrics.recordRequest(route, status, ctx.outcome, ctx.reason, upstream ? ms / 1000 : null);
    if (!logger.isLevelEnabled('info')) return;
    const entry: AccessEntry = {
      reqId: ctx.requestId,
      method: ctx.req.method,
      path: ctx.path || '(unparsed)',
      route,
      status,
      ms: Math.round(ms * 10) / 10,
      auth: ctx.outcome,
      reason: ctx.reason,
      client: ctx.clientIp,
      sub: ctx.identity?.sub,
      upstream,
      websocket: ctx.req.headers.upgrade ? true : undefined,
    };
    if (access) access(entry);
    else logger.info(entry, 'request');
  };
}

/** The access log line's fields, in this order; an undefined field is left out (as pino does). */
export interface AccessEntry {
  reqId: string;
  method: string | undefined;
  path: string;
  route: string;
  status: number;
  ms: number;
  auth: string;
  reason: string;
  client: string;
  sub: string | undefined;
  upstream: string | null;
  websocket: true | undefined;
}

/** Printable ASCII except the quote and the backslash: a string of only these is its own JSON text between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A string as JSON: quoted as it is when nothing in it needs escaping (ids, paths, addresses, most subjects), else JSON.stringify. */
const quote = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/**
 * Strings of few distinct values (method, route name, outcome, reason id,
 * upstream origin) serialised once each. Bounded all the same: a full map
 * starts again.
 */
const QUOTED = new Map<string, string>();
const MAX_QUOTED = 4096;
function quoteKnown(s: string): string {
  let q = QUOTED.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (QUOTED.size >= MAX_QUOTED) QUOTED.clear();
    QUOTED.set(s, q);
  }
  return q;
}

/**
 * The entry serialised as pino would (batchedInfoLines): the hot path's one log
 * line without pino's walk over the object. Every string is escaped as
 * JSON.stringify escapes it (quote, quoteKnown), so a path or a token's `sub`
 * cannot break the line; nine JSON.stringify calls a line cost ~1 µs, most
 * of it on strings that need no escaping.
 */
export function accessFields(e: AccessEntry): string {
  let out = `,"reqId":${quote(e.reqId)}`;
  if (e.method !== undefined) out += `,"method":${quoteKnown(e.method)}`;
  out += `,"path":${quote(e.path)},"route":${quoteKnown(e.route)},"status":${e.status},"ms":${Number.isFinite(e.ms) ? e.ms : null}`;
  out += `,"auth":${quoteKnown(e.auth)},"reason":${quoteKnown(e.reason)},"client":${quote(e.client)}`;
  if (e.sub !== undefined) out += `,"sub":${quote(e.sub)}`;
  out += `,"upstream":${e.upstream === null ? 'null' : quoteKnown(e.upstream)}`;
  if (e.websocket) out += ',"websocket":true';
  return out;
}

/** A refusal's effect on the context: the reason, and the outcome unless the request had already been admitted. */
export function noteRefusal(ctx: RequestContext, err: unknown, logger: Logger): GatewayError {
  const gw = asGatewayError(err);
  if (gw.code === 'server_error') logger.error({ reqId: ctx.requestId, err }, 'unexpected error');
  if (ctx.outcome !== 'authenticated' && ctx.outcome !== 'public' && ctx.outcome !== 'anonymous')
    ctx.outcome = gw.status === 401 || gw.status === 403 || gw.status === 302 ? 'denied' : 'error';
  ctx.reason = gw.reason;
  return gw;
}
