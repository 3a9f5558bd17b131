import { formatListen, listenersClash, parseCidr } from '../net.js';
import { DEFAULTS, type GatehouseConfig, type ListenAddress } from '../schema.js';
import type { Reader } from './reader.js';

/** `server:` — the main listener, its timeouts, workers, trusted proxies. */
export function readServer(r: Reader, raw: unknown): GatehouseConfig['server'] {
  const s =
    r.obj(raw, 'server', [
      'listen',
      'workers',
      'trustedProxies',
      'maxHeaderBytes',
      'upstreamTimeout',
      'headersTimeout',
      'requestTimeout',
      'keepAliveTimeout',
      'shutdownTimeout',
      'maxConnectionsPerUpstream',
      'tls',
      'publicUrl',
    ]) ?? {};
  let workers: number | 'auto' = DEFAULTS.server.workers;
  if (s.workers === 'auto') workers = 'auto';
  else workers = r.int(s.workers, 'server.workers', DEFAULTS.server.workers, 1, 256);
  const trustedProxies = r.strList(s.trustedProxies, 'server.trustedProxies', DEFAULTS.server.trustedProxies, {
    each: (cidr, p) => {
      if (!parseCidr(cidr)) r.fail(p, 'must be an IP address or CIDR (e.g. 10.0.0.0/8, ::1/128)');
    },
  });
  const server: GatehouseConfig['server'] = {
    listen: r.listen(s.listen, 'server.listen', DEFAULTS.server.listen),
    workers,
    trustedProxies,
    maxHeaderBytes: r.int(s.maxHeaderBytes, 'server.maxHeaderBytes', DEFAULTS.server.maxHeaderBytes, 1024, 1 << 20),
    upstreamTimeoutMs: r.duration(s.upstreamTimeout, 'server.upstreamTimeout', DEFAULTS.server.upstreamTimeout),
    headersTimeoutMs: r.duration(s.headersTimeout, 'server.headersTimeout', DEFAULTS.server.headersTimeout),
    requestTimeoutMs: r.duration(s.requestTimeout, 'server.requestTimeout', DEFAULTS.server.requestTimeout),
    keepAliveTimeoutMs: r.duration(s.keepAliveTimeout, 'server.keepAliveTimeout', DEFAULTS.server.keepAliveTimeout),
    shutdownTimeoutMs: r.duration(s.shutdownTimeout, 'server.shutdownTimeout', DEFAULTS.server.shutdownTimeout),
    maxConnectionsPerUpstream: r.int(s.maxConnectionsPerUpstream, 'server.maxConnectionsPerUpstream', DEFAULTS.server.maxConnectionsPerUpstream, 1, 65535),
    tls: readTls(r, s.tls),
    publicUrl: s.publicUrl === undefined || s.publicUrl === null ? null : publicUrl(r, s.publicUrl),
  };
  // node:http refuses to create a server whose headers may take longer than the whole request (ERR_OUT_OF_RANGE); 0 turns either off.
  if (server.headersTimeoutMs > 0 && server.requestTimeoutMs > 0 && server.headersTimeoutMs > server.requestTimeoutMs) {
    r.fail('server.headersTimeout', 'must not be longer than server.requestTimeout (the whole request, headers included)');
  }
  return server;
}

function readTls(r: Reader, raw: unknown): { cert: string; key: string } | null {
  if (raw === undefined || raw === null) return null;
  const t = r.obj(raw, 'server.tls', ['cert', 'key']);
  if (!t) return null;
  const cert = r.str(t.cert, 'server.tls.cert');
  const key = r.str(t.key, 'server.tls.key');
  return cert && key ? { cert, key } : null;
}

/** An origin: scheme, host, optional port — no path, query or credentials (it is compared with browsers' Origin header). */
function publicUrl(r: Reader, raw: unknown): string | null {
  const s = r.httpUrl(raw, 'server.publicUrl');
  if (s === null) return null;
  const url = new URL(s);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    return r.fail('server.publicUrl', 'must be an origin like https://app.example (no path, query or fragment)');
  return url.origin;
}

/** `admin:` — its own listener, or `listen: false` for none; never on the main listener's socket (start would fail with EADDRINUSE). */
export function readAdmin(r: Reader, raw: unknown, server: ListenAddress): GatehouseConfig['admin'] {
  const a = r.obj(raw, 'admin', ['listen']) ?? {};
  const listen = a.listen === false ? null : r.listen(a.listen, 'admin.listen', DEFAULTS.admin.listen);
  if (listen && listenersClash(listen, server)) {
    r.fail('admin.listen', `uses port ${listen.port}, which server.listen (${formatListen(server)}) already takes; give the admin listener a port of its own`);
  }
  return { listen };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** `log:` */
export function readLog(r: Reader, raw: unknown): GatehouseConfig['log'] {
  const l = r.obj(raw, 'log', ['level']) ?? {};
  const level = (l.level ?? DEFAULTS.log.level) as GatehouseConfig['log']['level'];
  if (!LOG_LEVELS.includes(level)) r.fail('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);
  return { level };
}
