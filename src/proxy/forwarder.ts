import type { ClientRequest, IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { HOP_BY_HOP } from './header-sets.js';
import { Tunnel } from './ws-tunnel.js';

export interface ForwardRequest {
  origin: string;
  method: string;
  /** path + query as the upstream should see it */
  path: string;
  /** flat [name, value, name, value, ...] list, already filtered */
  headers: string[];
  timeoutMs: number;
  requestId: string;
}

/** The end of one proxied exchange: `(null, status)` once the response is written, or `(error, 0)`. */
export type RelayDone = (err: Error | null, status: number) => void;

export interface UpgradeEvents {
  /** the upstream answered the upgrade: 101 with the open tunnel, or the status of a refusal it relays */
  open(status: number, tunnel: Tunnel | null): void;
  error(err: Error): void;
  close?(): void;
}

export interface ForwarderOptions {
  maxConnectionsPerUpstream: number;
  keepAliveTimeoutMs: number;
}

/**
 * One small module for both transports (issue #2): plain HTTP goes through an
 * undici Pool per upstream origin (keep-alive, bounded connections, streamed
 * bodies: ~1.9x http-proxy's throughput here), WebSocket upgrades through
 * http-proxy, where the cost is per connection rather than per request.
 */
export class Forwarder {
  private readonly pools = new Map<string, Pool>();
  private readonly ws = httpProxy.createProxyServer({ ws: true, xfwd: false, changeOrigin: false, ignorePath: true });

  /** per upgrade request, who hears the upstream's answer (http-proxy reports it per server, not per call) */
  private readonly upgrades = new WeakMap<IncomingMessage, { events: UpgradeEvents; client: Duplex }>();
  /** upgrades the upstream accepted, until http-proxy has piped them */
  private readonly opening = new WeakMap<Duplex, { events: UpgradeEvents; client: Duplex }>();

  constructor(private readonly opts: ForwarderOptions) {
    // http-proxy reports socket errors here; the caller's error handler owns the answer.
    this.ws.on('error', () => {});
    this.ws.on('open', (upstream: Duplex) => {
      const pending = this.opening.get(upstream);
      if (!pending) return;
      this.opening.delete(upstream);
      pending.events.open(101, new Tunnel(pending.client, upstream));
    });
    this.ws.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) => {
      const pending = this.upgrades.get(req);
      if (!pending) return;
      this.upgrades.delete(req);
      const { events } = pending;
      // http-proxy pipes the two sockets after this listener has run; the tunnel is taken over at 'open', once it has
      // (a 'data' listener added any earlier would receive the upstream's first bytes before the pipe exists)
      proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Duplex) => this.opening.set(upstream, pending));
      proxyReq.once('response', (res: IncomingMessage) => events.open(res.statusCode ?? 502, null));
    });
  }

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.opts.maxConnectionsPerUpstream,
        keepAliveTimeout: this.opts.keepAliveTimeoutMs,
        pipelining: 1,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * Streams the request to the upstream and its response back; calls `done`
   * exactly once, with the upstream status once the response has been
   * written, or with the error. Uses undici's dispatch handler directly and a
   * callback rather than promises: no stream wrapper, no AbortSignal and no
   * promise per request (each measured on the per-request profile), since the
   * handler's controller can abort on its own.
   */
  http(req: IncomingMessage, res: ServerResponse, fwd: ForwardRequest, done: RelayDone): void {
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    // A kept-alive upstream connection can close just as a request is sent on it (the upstream's idle
    // timeout racing ours). A bodiless GET/HEAD that got no response byte is safe to send once more,
    // as nginx does (proxy_next_upstream error) — never anything that may have had an effect.
    const retryable = !hasBody && (fwd.method === 'GET' || fwd.method === 'HEAD');
    if (!retryable) {
      this.relay(req, res, fwd, hasBody, done);
      return;
    }
    this.relay(req, res, fwd, hasBody, (err, status) => {
      if (err && isStaleConnection(err) && !res.headersSent && !res.destroyed) this.relay(req, res, fwd, hasBody, done);
      else done(err, status);
    });
  }

  private relay(req: IncomingMessage, res: ServerResponse, fwd: ForwardRequest, hasBody: boolean, done: RelayDone): void {
    const handler = new RelayHandler(res, fwd, done);
    if (hasBody && !req.readableEnded) req.once('end', () => handler.armTimer());
    else handler.armTimer();
    try {
      this.pool(fwd.origin).dispatch(
        {
          path: fwd.path,
          method: fwd.method as 'GET',
          headers: fwd.headers,
          body: hasBody ? req : null,
          headersTimeout: fwd.timeoutMs,
          bodyTimeout: fwd.timeoutMs,
        },
        handler,
      );
    } catch (err) {
      // undici reports its errors to the handler; anything thrown here still ends the exchange once
      handler.fail(err as Error);
    }
  }

  /**
   * Hands an authorised upgrade to http-proxy; identity headers were already
   * written into `req.headers`. `events.open` is called once with the
   * upstream's answer to the upgrade (101, or the status of a refusal it
   * relays), `events.error` on failure, `events.close` when the tunnel ends.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, origin: string, events: UpgradeEvents): void {
    this.upgrades.set(req, { events, client: socket });
    socket.once('close', () => events.close?.());
    this.ws.ws(req, socket, head, { target: `${origin}${req.url ?? '/'}` }, events.error);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.ws.close();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }
}

/** The connection died under the request before any response arrived (not a refusal, not a timeout). */
function isStaleConnection(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

/** undici's own timers tick about once a second; below this a route timeout gets a timer of its own. */
const COARSE_TIMER_MS = 2000;

/**
 * One proxied exchange: writes the upstream response into `res` with
 * backpressure, aborts the upstream request when the client hangs up or the
 * route timeout passes, and settles exactly once.
 */
class RelayHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private timer: NodeJS.Timeout | undefined;
  private status = 0;
  private settled = false;
  private pendingAbort: Error | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly fwd: ForwardRequest,
    private readonly done: RelayDone,
  ) {
    res.once('close', this.onClientClose);
  }

  /** Like Envoy's route timeout, it runs from the end of the client's request to the upstream's response headers. */
  armTimer(): void {
    if (this.settled || this.status !== 0 || this.fwd.timeoutMs >= COARSE_TIMER_MS) return;
    this.timer = setTimeout(() => this.abort(new undiciErrors.HeadersTimeoutError()), this.fwd.timeoutMs);
  }

  private readonly onClientClose = () => {
    if (!this.res.writableFinished) this.abort(new ClientClosedError());
  };

  private abort(err: Error): void {
    if (this.controller) this.controller.abort(err);
    else this.pendingAbort = err;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort) controller.abort(this.pendingAbort);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx: undici handles them; the final status follows
    clearTimeout(this.timer);
    this.status = statusCode;
    this.res.writeHead(statusCode, responseHeaders(headers, this.fwd.requestId));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.finish(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.finish(err);
  }

  fail(err: Error): void {
    this.finish(err);
  }

  private finish(err: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.res.off('close', this.onClientClose);
    this.done(err, err ? 0 : this.status);
  }
}

export class ClientClosedError extends Error {
  readonly code = 'CLIENT_CLOSED';
  constructor() {
    super('the client closed the connection before the response was complete');
  }
}

/** Upstream response headers minus hop-by-hop ones (and any the upstream's Connection names). */
export function responseHeaders(headers: IncomingHttpHeaders, requestId: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers.connection;
  const named = connection
    ? new Set(
        String(connection)
          .toLowerCase()
          .split(',')
          .map((s) => s.trim()),
      )
    : null;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  out['x-request-id'] = requestId;
  return out;
}
