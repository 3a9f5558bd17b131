import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayError } from '../errors.js';
import { sendError, writeRawError } from '../http/respond.js';
import type { Logger } from '../observe/log.js';
import type { CompiledRoute, RequestContext } from '../pipeline/context.js';
import type { Forwarder } from './forwarder.js';
import { upstreamError } from './upstream-errors.js';
import type { Tunnel } from './ws-tunnel.js';
import { upstreamHeaders, upstreamPath, type UpstreamRequestDeps } from './upstream-request.js';

/** What forwarding needs: shaping (identity, trusted proxies), the pools, the round robin, a logger for upstream failures. */
export interface ForwardDeps extends UpstreamRequestDeps {
  readonly forwarder: Forwarder;
  readonly logger: Logger;
  nextUpstream(route: CompiledRoute): string;
}

/** How an exchange ended: the status the client got, the upstream, and the reason when it was a failure. */
export type Forwarded = (status: number, origin: string, reason: string | null) => void;

/**
 * Sends an admitted request on a proxied route upstream and the response
 * back. Never refuses: the only errors it answers are the upstream's own
 * (502/504), and `done` is called exactly once after the client was answered.
 */
export function forward(ctx: RequestContext, res: ServerResponse, route: CompiledRoute, deps: ForwardDeps, done: Forwarded): void {
  const config = route.proxy!;
  const origin = deps.nextUpstream(route);
  const fwd = {
    origin,
    method: ctx.req.method ?? 'GET',
    path: upstreamPath(ctx, config),
    headers: upstreamHeaders(ctx, config, deps),
    timeoutMs: config.timeoutMs,
    requestId: ctx.requestId,
  };
  deps.forwarder.http(ctx.req, res, fwd, (err, status) => {
    if (!err) {
      done(status, origin, null);
      return;
    }
    const gw = upstreamError(err);
    if (!gw) {
      done(499, origin, 'client_closed');
      return;
    }
    sendError(res, gw, ctx.requestId);
    deps.logger.warn(
      { reqId: ctx.requestId, upstream: origin, code: (err as { code?: string }).code, err: err.message, sent: res.headersSent },
      'upstream failed',
    );
    done(gw.status, origin, gw.reason);
  });
}

/** How an upgrade ended: the upstream's answer (101 = tunnel open), or the error the client was sent. */
export interface UpgradeOutcome {
  /** 101 with the open tunnel, or the status of a refusal the upstream sent */
  opened(status: number, origin: string, tunnel: Tunnel | null): void;
  failed(error: GatewayError | null, origin: string): void;
  closed?(): void;
}

/** The same shaping as `forward`, written into the request http-proxy sends, then the tunnel. */
export function forwardUpgrade(ctx: RequestContext, socket: Duplex, head: Buffer, route: CompiledRoute, deps: ForwardDeps, outcome: UpgradeOutcome): void {
  const config = route.proxy!;
  const req: IncomingMessage = ctx.req;
  const list = upstreamHeaders(ctx, config, deps);
  const headers: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    headers[name] = headers[name] === undefined ? (list[i + 1] as string) : `${headers[name]}, ${list[i + 1] as string}`;
  }
  headers.connection = 'Upgrade';
  headers.upgrade = 'websocket';
  req.headers = headers;
  req.url = upstreamPath(ctx, config);
  const origin = deps.nextUpstream(route);
  let opened = false;
  deps.forwarder.upgrade(req, socket, head, origin, {
    open: (status, tunnel) => {
      opened = true;
      outcome.opened(status, origin, tunnel);
    },
    error: (err) => {
      const gw = upstreamError(err);
      if (!opened && gw) writeRawError(socket, gw, ctx.requestId);
      if (!opened) outcome.failed(gw, origin);
      else socket.destroy();
    },
    close: () => outcome.closed?.(),
  });
}
