import { configWarnings } from '../config/warnings.js';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createAdminServer } from '../admin/server.js';
import { loadConfig } from '../config/load.js';
import type { GatehouseConfig, ListenAddress } from '../config/schema.js';
import { StartupError } from '../errors.js';
import { shareMetricsWithPrimary } from '../observe/cluster-metrics.js';
import { createLogger, type Logger } from '../observe/log.js';
import { Metrics } from '../observe/metrics.js';
import { ConnectionWatch } from '../revocation/watch.js';
import { MemoryStore } from '../store/memory.js';
import type { RevocationStore, SessionStore } from '../store/types.js';
import { onClientError, onConnect } from './client-errors.js';
import { createRequestHandler } from './handle-request.js';
import { createUpgradeHandler } from './handle-upgrade.js';
import { IssuerState, buildRuntime, closeRuntime, type Runtime, type Shared } from './runtime.js';
import { combineStores, createStore, isSessionStore } from './stores.js';

export interface GatewayOptions {
  config: GatehouseConfig;
  /** file to re-read on reload(); defaults to config.sourcePath */
  configPath?: string | null;
  logger?: Logger;
  store?: RevocationStore;
  /** refresh families and login counters; defaults to `store` when it implements both, else a memory store */
  sessions?: SessionStore;
  metrics?: Metrics;
}

/** One gateway process: main listener, admin listener, the current Runtime, the store. */
export class Gateway {
  private rt: Runtime;
  private stopping: Promise<void> | null = null;
  private reloadProblem: string | null = null;
  private readonly sockets = new Set<Socket>();

  readonly store: RevocationStore;
  readonly logger: Logger;
  readonly metrics: Metrics;

  private constructor(
    rt: Runtime,
    private readonly shared: Shared,
    readonly server: Server,
    readonly admin: Server | null,
    private readonly configPath: string | null,
  ) {
    this.rt = rt;
    this.store = shared.store;
    this.logger = shared.logger;
    this.metrics = shared.metrics;
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const { config } = opts;
    const logger = opts.logger ?? createLogger(config.log.level);
    const metrics = opts.metrics ?? new Metrics();
    // a node:cluster worker: /metrics answers for every worker (summed by the primary), not for whichever one is asked
    shareMetricsWithPrimary(metrics.registry);
    const store = opts.store ?? (await createStore(config, logger, metrics));
    const sessions = opts.sessions ?? (isSessionStore(store) ? store : new MemoryStore());
    const shared: Shared = { logger, metrics, store: combineStores(store, sessions), issuerState: new IssuerState() };
    let rt: Runtime;
    try {
      rt = await buildRuntime(config, shared);
    } catch (err) {
      await store.close();
      throw err;
    }
    // The handlers read the runtime through the gateway, so reload() swaps it for every listener at once.
    const self = {} as { gw: Gateway };
    const deps = { current: () => self.gw.rt, logger, metrics };
    const watch = new ConnectionWatch(
      () => self.gw.rt.store,
      () => self.gw.rt.config.verify.clockToleranceMs,
    );
    let tls: { cert: Buffer; key: Buffer } | null;
    try {
      tls = readTls(config);
    } catch (err) {
      await closeRuntime(rt);
      await store.close();
      throw err;
    }
    const serverOptions: ServerOptions = {
      maxHeaderSize: config.server.maxHeaderBytes,
      headersTimeout: config.server.headersTimeoutMs,
      requestTimeout: config.server.requestTimeoutMs,
      keepAliveTimeout: config.server.keepAliveTimeoutMs,
      // Node enforces headersTimeout/requestTimeout only when it sweeps its connections, every 30 s by default:
      // a slowloris client would hold a socket for 30 s whatever the config says (SECURITY.md P24). Sweep at a
      // quarter of the smaller timeout, at most once a second.
      connectionsCheckingInterval: Math.min(
        1000,
        Math.max(50, Math.floor(Math.min(config.server.headersTimeoutMs, config.server.requestTimeoutMs || Infinity) / 4)),
      ),
      // checkRequest refuses a missing Host itself, so the 400 carries the JSON body and X-Request-Id (SPEC §5)
      requireHostHeader: false,
      insecureHTTPParser: false,
      joinDuplicateHeaders: false,
    };
    // server.tls: HTTPS on the main listener (so __Host- cookies work without another proxy); certificates re-read on SIGHUP
    const server: Server = tls ? createHttpsServer({ ...serverOptions, ...tls, minVersion: 'TLSv1.2' }) : createServer(serverOptions);
    const admin = config.admin.listen ? createAdminServer({ current: () => self.gw.rt, logger, metrics, warnings: () => self.gw.warnings() }) : null;
    const gw = new Gateway(rt, shared, server, admin, opts.configPath ?? config.sourcePath);
    self.gw = gw;
    const handler = createRequestHandler(deps);
    server.on('request', handler);
    // Expect: 100-continue is admitted like any request before the client is told to send its body;
    // Node would otherwise send "100 Continue" before anyone looked at the credentials (security round 2, M01)
    server.on('checkContinue', handler);
    // other expectations go through the same stages, which answer 417 (check-expect.ts)
    server.on('checkExpectation', handler);
    server.on('connect', onConnect);
    server.on('upgrade', createUpgradeHandler({ ...deps, watch }));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(err, socket));
    server.on('connection', (socket: Socket) => {
      gw.sockets.add(socket);
      socket.once('close', () => gw.sockets.delete(socket));
    });
    try {
      await listen(server, config.server.listen, 'server.listen');
      if (admin) await listen(admin, config.admin.listen as ListenAddress, 'admin.listen');
    } catch (err) {
      server.close();
      admin?.close();
      await closeRuntime(rt);
      await store.close();
      throw err;
    }
    for (const w of configWarnings(config)) logger.warn({ path: w.path }, w.message);
    if (config.sessions && !config.sessions.secureCookie) {
      logger.warn(
        { publicUrl: config.server.publicUrl, cookie: config.sessions.cookie },
        'sessions on plain http (loopback only): the session cookie is sent without Secure and without the __Host- prefix; use https (server.tls) anywhere else',
      );
    }
    if (config.issuer && config.issuer.clients.length > 0)
      logger.info(
        { clients: config.issuer.clients.map((c) => c.id), grants: config.issuer.grants, issuer: config.issuer.iss },
        `OAuth / OpenID provider: ${config.issuer.clients.length} registered client${config.issuer.clients.length === 1 ? '' : 's'}`,
      );
    logger.info({ listen: gw.address(), admin: gw.adminAddress(), routes: config.routes.length, store: store.kind }, 'gatehouse started');
    return gw;
  }

  /** Things an operator should know that do not make this instance unready: a refused reload, an invalid users file edit. */
  warnings(): string[] {
    const out: string[] = [];
    if (this.reloadProblem) out.push(this.reloadProblem);
    const users = this.rt.usersState();
    if (users?.problem) out.push(`users file ${users.file}: the last good version is in use; the file on disk was refused: ${users.problem}`);
    return out;
  }

  get runtime(): Runtime {
    return this.rt;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  adminAddress(): AddressInfo | null {
    return (this.admin?.address() as AddressInfo | null) ?? null;
  }

  /** Re-reads the config file (SIGHUP). A bad file is logged and the running config kept. */
  async reload(next?: GatehouseConfig): Promise<boolean> {
    let rt: Runtime;
    if (!next && !this.configPath) {
      this.logger.error('reload: this gateway was started without a config file, so there is nothing to re-read');
      return false;
    }
    try {
      const config = next ?? loadConfig(this.configPath as string);
      rt = await buildRuntime(config, this.shared);
      // new certificate files (a renewal) apply to new connections; open ones keep theirs
      const tls = readTls(config);
      if (tls && 'setSecureContext' in this.server) (this.server as HttpsServer).setSecureContext(tls);
      else if (tls || config.server.tls !== this.rt.config.server.tls) this.logger.warn('server.tls added or removed: restart to apply it');
      const old = this.rt.config;
      if (config.server.listen.host !== old.server.listen.host || config.server.listen.port !== old.server.listen.port) {
        this.logger.warn('server.listen changed: restart to apply it; other changes are live');
      }
    } catch (err) {
      const message = (err as Error).message;
      this.reloadProblem = `${this.configPath ?? 'config'}: the running config is not the file on disk, whose new version was refused: ${message}`;
      this.metrics.setStale('config', true);
      this.logger.error({ err: message }, 'reload failed; keeping the running config');
      return false;
    }
    const old = this.rt;
    this.rt = rt;
    this.reloadProblem = null;
    this.metrics.setStale('config', false);
    this.logger.info({ routes: rt.config.routes.length }, 'config reloaded');
    // undici's Pool.close() lets requests already in flight on the old pools finish.
    void closeRuntime(old);
    return true;
  }

  /** Stop accepting, let in-flight requests finish (bounded by server.shutdownTimeout), then close everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const deadline = Date.now() + this.rt.config.server.shutdownTimeoutMs;
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.admin?.close();
      this.server.closeIdleConnections();
      const ticker = setInterval(() => this.server.closeIdleConnections(), 50);
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref());
      await Promise.race([closed, timeout]);
      clearInterval(ticker);
      for (const s of this.sockets) s.destroy();
      this.admin?.closeAllConnections();
      await closeRuntime(this.rt);
      await this.store.close();
      this.logger.info('gatehouse stopped');
      this.logger.flush();
    })();
    return this.stopping;
  }
}

/** The certificate and key files of server.tls, read now (a start-up error names the file). */
function readTls(config: GatehouseConfig): { cert: Buffer; key: Buffer } | null {
  const tls = config.server.tls;
  if (!tls) return null;
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new StartupError(`server.tls.${what}: ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  return { cert: read(tls.cert, 'cert'), key: read(tls.key, 'key') };
}

function listen(server: Server, addr: ListenAddress, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'address already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.code === 'EADDRNOTAVAIL'
              ? 'address not available on this machine'
              : err.message;
      reject(new StartupError(`${what}: cannot listen on ${addr.host}:${addr.port}: ${why}`));
    };
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
