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

/**
 * The entry serialised as pino would (batchedInfoLines): the hot path's one log
 * line without pino's walk over the object. Every string goes through
 * JSON.stringify, so a path or a token's `sub` cannot break the line.
 */
export function accessFields(e: AccessEntry): string {
  let out = `,"reqId":${JSON.stringify(e.reqId)}`;
  if (e.method !== undefined) out += `,"method":${JSON.stringify(e.method)}`;
  out += `,"path":${JSON.stringify(e.path)},"route":${JSON.stringify(e.route)},"status":${e.status},"ms":${Number.isFinite(e.ms) ? e.ms : null}`;
  out += `,"auth":${JSON.stringify(e.auth)},"reason":${JSON.stringify(e.reason)},"client":${JSON.stringify(e.client)}`;
  if (e.sub !== undefined) out += `,"sub":${JSON.stringify(e.sub)}`;
  out += `,"upstream":${e.upstream === null ? 'null' : JSON.stringify(e.upstream)}`;
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
