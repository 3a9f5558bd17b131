import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { Pool, errors as undiciErrors } from 'undici';
import { badGateway, gatewayTimeout, type GatewayError } from '../errors.js';
import { HOP_BY_HOP } from './headers.js';

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

  constructor(private readonly opts: ForwarderOptions) {
    // http-proxy reports socket errors here; the caller's error handler owns the answer.
    this.ws.on('error', () => {});
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

  /** Streams the request to the upstream and its response back; resolves with the upstream status when the response has been written. */
  http(req: IncomingMessage, res: ServerResponse, fwd: ForwardRequest): Promise<number> {
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const abort = new AbortController();
    // Set when the client hangs up first, so the stream error that follows is not blamed on the upstream.
    let clientGone = false;
    const onClose = () => {
      if (res.writableFinished) return;
      clientGone = true;
      abort.abort();
    };
    res.once('close', onClose);
    // undici runs headersTimeout on a 1 s-resolution timer (lib/util/timers.js), so a
    // sub-second route timeout would fire up to ~1 s late. A native timer keeps it exact;
    // like Envoy's route timeout it starts once the client's request has been read.
    let timer: NodeJS.Timeout | undefined;
    const startTimer = () => {
      timer = setTimeout(() => abort.abort(new undiciErrors.HeadersTimeoutError()), fwd.timeoutMs);
    };
    if (!hasBody || req.readableEnded) startTimer();
    else req.once('end', startTimer);
    const stopTimer = () => {
      clearTimeout(timer);
      req.off('end', startTimer);
    };
    let status = 0;
    return new Promise<number>((resolve, reject) => {
      this.pool(fwd.origin).stream(
        {
          path: fwd.path,
          method: fwd.method as 'GET',
          headers: fwd.headers,
          body: hasBody ? req : null,
          headersTimeout: fwd.timeoutMs,
          bodyTimeout: fwd.timeoutMs,
          signal: abort.signal,
          opaque: res,
        },
        ({ statusCode, headers, opaque }) => {
          stopTimer();
          status = statusCode;
          opaque.writeHead(statusCode, responseHeaders(headers, fwd.requestId));
          return opaque;
        },
        (err) => {
          stopTimer();
          res.off('close', onClose);
          if (err) reject(clientGone ? new ClientClosedError() : err);
          else resolve(status);
        },
      );
    });
  }

  /** Hands an authorised upgrade to http-proxy; identity headers were already written into `req.headers`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, origin: string, onError: (err: Error) => void): void {
    this.ws.ws(req, socket, head, { target: `${origin}${req.url ?? '/'}` }, onError);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.ws.close();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
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
  const named = connection ? new Set(String(connection).toLowerCase().split(',').map((s) => s.trim())) : null;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  out['x-request-id'] = requestId;
  return out;
}

/** undici / socket failures -> 502 or 504 (SPEC §5); null when the client went away and nobody is listening. */
export function upstreamError(err: unknown): GatewayError | null {
  const e = err as { code?: string; name?: string };
  switch (e.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return gatewayTimeout('upstream_timeout');
    case 'UND_ERR_CONNECT_TIMEOUT':
      return gatewayTimeout('upstream_connect_timeout');
    case 'UND_ERR_ABORTED':
    case 'CLIENT_CLOSED':
      return null;
    case 'ECONNREFUSED':
      return badGateway('upstream_refused');
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return badGateway('upstream_reset');
    default:
      if (e.name === 'AbortError') return null;
      if (typeof e.code === 'string' && e.code.startsWith('HPE_')) return badGateway('upstream_protocol_error');
      return badGateway(`upstream_error${e.code ? `_${e.code.toLowerCase()}` : ''}`);
  }
}
