import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../observe/metrics.js';
import { GatewayError, invalidRequest } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { AUTHENTICATE, PREPARE, admit, type StageDeps } from '../pipeline/stages.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Runtime } from './runtime.js';
import type { RevocationStore } from '../store/types.js';
import { upstreamError } from '../proxy/forwarder.js';
import { clientAddress } from '../proxy/client-address.js';
import { sendError } from '../http/respond.js';
import { asGatewayError } from '../errors.js';
import { upstreamHeaders, upstreamPath } from '../proxy/upstream-request.js';

/** Gatehouse's own endpoints (token service); returns true when it answered the request. */
export type LocalEndpoints = (ctx: RequestContext, res: ServerResponse) => boolean | Promise<boolean>;

export interface HandlerDeps {
  current(): Runtime;
  store: RevocationStore;
  logger: Logger;
  metrics: Metrics;
  endpoints?: LocalEndpoints;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function newContext(req: IncomingMessage, rt: Runtime): RequestContext {
  const given = req.headers['x-request-id'];
  return {
    req,
    requestId: typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID(),
    startedAt: performance.now(),
    clientIp: clientAddress(req, rt.trusted, rt.anyTrusted),
    path: '',
    segments: [],
    query: '',
    route: null,
    token: null,
    identity: null,
    outcome: 'error',
    reason: 'ok',
  };
}

export function createRequestHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, logger, store } = deps;
  const onStoreBypass = () => metrics.storeErrors.labels('allowed_while_down').inc();
  const finish = (ctx: RequestContext, status: number, upstream: string | null) => {
    const ms = performance.now() - ctx.startedAt;
    const route = ctx.route?.name ?? '(none)';
    metrics.recordRequest(route, status, ctx.outcome, ctx.reason, upstream ? ms / 1000 : null);
    if (!logger.isLevelEnabled('info')) return;
    // The path is logged without its query string: tokens and secrets must never reach logs (P28).
    logger.info({ reqId: ctx.requestId, method: ctx.req.method, path: ctx.path || '(unparsed)', route, status, ms: Math.round(ms * 10) / 10, auth: ctx.outcome, reason: ctx.reason, client: ctx.clientIp, sub: ctx.identity?.sub, upstream }, 'request');
  };
  const fail = (ctx: RequestContext, res: ServerResponse, err: unknown) => {
    const gw = asGatewayError(err);
    if (gw.code === 'server_error') logger.error({ reqId: ctx.requestId, err }, 'unexpected error');
    if (ctx.outcome !== 'authenticated' && ctx.outcome !== 'public' && ctx.outcome !== 'anonymous') ctx.outcome = gw.status === 401 || gw.status === 403 ? 'denied' : 'error';
    ctx.reason = gw.reason;
    sendError(res, gw, ctx.requestId);
    finish(ctx, gw.status, null);
  };

  /**
   * The request's way through the pipeline, written as plain continuations:
   * a cached token goes from the socket to undici without a promise or a
   * microtask, and only a stage that has to wait (a signature check, a
   * token-service endpoint) continues asynchronously. Every step either hands
   * on or ends in `fail`, which answers exactly once.
   */
  const forward = (ctx: RequestContext, res: ServerResponse, rt: Runtime) => {
    const origin = rt.nextUpstream(ctx.route!);
    const fwd = { origin, method: ctx.req.method ?? 'GET', path: upstreamPath(ctx), headers: upstreamHeaders(ctx, rt), timeoutMs: ctx.route!.config.timeoutMs, requestId: ctx.requestId };
    rt.forwarder.http(ctx.req, res, fwd, (err, status) => {
      if (!err) {
        finish(ctx, status, origin);
        return;
      }
      const gw = upstreamError(err);
      if (!gw) {
        ctx.reason = 'client_closed';
        finish(ctx, 499, origin);
        return;
      }
      ctx.reason = gw.reason;
      sendError(res, gw, ctx.requestId);
      logger.warn({ reqId: ctx.requestId, upstream: origin, code: (err as { code?: string }).code, err: err.message, sent: res.headersSent }, 'upstream failed');
      finish(ctx, gw.status, origin);
    });
  };
  /** Runs `next` with the step's result: at once when it has one, else once its promise settles (a rejection, or a throw in `next`, ends in `fail`). */
  const then = <T>(ctx: RequestContext, res: ServerResponse, step: T | Promise<T>, next: (value: T) => void) => {
    if (step instanceof Promise) step.then(next).catch((err: unknown) => fail(ctx, res, err));
    else next(step);
  };
  const authenticate = (ctx: RequestContext, res: ServerResponse, stageDeps: StageDeps) => then(ctx, res, admit(ctx, stageDeps, AUTHENTICATE), () => forward(ctx, res, stageDeps.rt));
  const afterEndpoints = (ctx: RequestContext, res: ServerResponse, stageDeps: StageDeps, answered: boolean) => {
    if (!answered) {
      authenticate(ctx, res, stageDeps);
      return;
    }
    ctx.outcome = 'public';
    finish(ctx, res.statusCode, null);
  };
  const prepared = (ctx: RequestContext, res: ServerResponse, stageDeps: StageDeps) =>
    then(ctx, res, deps.endpoints ? deps.endpoints(ctx, res) : false, (answered) => afterEndpoints(ctx, res, stageDeps, answered));

  return (req, res) => {
    const rt = deps.current();
    const ctx = newContext(req, rt);
    try {
      const stageDeps: StageDeps = { rt, store, onStoreBypass };
      then(ctx, res, admit(ctx, stageDeps, PREPARE), () => prepared(ctx, res, stageDeps));
    } catch (err) {
      fail(ctx, res, err);
    }
  };
}

/** WebSocket upgrades pass the same stages as any request, then go to http-proxy. Only `Upgrade: websocket` is accepted (no h2c smuggling). */
export function createUpgradeHandler(deps: HandlerDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { logger, store, metrics } = deps;
  return (req, socket, head) => {
    const rt = deps.current();
    const ctx = newContext(req, rt);
    socket.on('error', () => socket.destroy());
    const run = async () => {
      if (String(req.headers.upgrade).toLowerCase() !== 'websocket') throw invalidRequest('Only WebSocket upgrades are supported', 'bad_upgrade', true);
      await admit(ctx, { rt, store, onStoreBypass: () => metrics.storeErrors.labels('allowed_while_down').inc() });
      if (!ctx.route!.config.websocket) throw invalidRequest('WebSocket upgrades are not enabled on this route', 'websocket_disabled', true);
      const list = upstreamHeaders(ctx, rt);
      const headers: Record<string, string> = {};
      for (let i = 0; i < list.length; i += 2) {
        const name = (list[i] as string).toLowerCase();
        headers[name] = headers[name] === undefined ? (list[i + 1] as string) : `${headers[name]}, ${list[i + 1] as string}`;
      }
      headers.connection = 'Upgrade';
      headers.upgrade = 'websocket';
      req.headers = headers;
      req.url = upstreamPath(ctx);
      const origin = rt.nextUpstream(ctx.route!);
      logger.info({ reqId: ctx.requestId, path: ctx.path, route: ctx.route!.name, auth: ctx.outcome, sub: ctx.identity?.sub, upstream: origin }, 'websocket');
      rt.forwarder.upgrade(req, socket, head, origin, (err) => {
        const gw = upstreamError(err);
        if (gw) writeRawError(socket, gw, ctx.requestId);
      });
    };
    run().catch((err: unknown) => {
      const gw = asGatewayError(err);
      ctx.reason = gw.reason;
      logger.info({ reqId: ctx.requestId, path: ctx.path || '(unparsed)', status: gw.status, reason: gw.reason }, 'websocket refused');
      writeRawError(socket, gw, ctx.requestId);
    });
  };
}

/** For sockets outside a ServerResponse (upgrades, parser errors): write one JSON error response and close. */
export function writeRawError(socket: Duplex, err: GatewayError, requestId: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: err.code, error_description: err.description, request_id: requestId });
  const lines = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    `x-request-id: ${requestId}`,
    ...Object.entries(err.headers).map(([k, v]) => `${k}: ${v}`),
    'connection: close',
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
