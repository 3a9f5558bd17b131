import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A counter bumped on every request. prom-client hashes and validates the
 * label set on each inc(), even through a labels() child, which showed up in
 * hot-path profiles; here a request adds 1 to a plain number, and the totals
 * are handed to prom-client when /metrics is scraped (its collect hook).
 */
class HotCounter<L extends string> {
  private readonly cells = new Map<string, { values: string[]; n: number; pushed: number }>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly L[]) {
    const cells = this.cells;
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const cell of cells.values()) {
          if (cell.n === cell.pushed) continue;
          this.labels(...cell.values).inc(cell.n - cell.pushed);
          cell.pushed = cell.n;
        }
      },
    });
  }

  /** Label values come from closed sets (route names, status codes, reason ids), so the map stays small. */
  inc(...values: string[]): void {
    const key = values.join('\u0000');
    const cell = this.cells.get(key);
    if (cell) cell.n++;
    else this.cells.set(key, { values, n: 1, pushed: 0 });
  }
}

/** One registry per gateway (tests run several in one process). */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new HotCounter(this.registry, 'gatehouse_requests_total', 'Requests answered, by route and status', ['route', 'status'] as const);
  private readonly authDecisions = new HotCounter(
    this.registry,
    'gatehouse_auth_decisions_total',
    'Authentication/authorization decisions by outcome and reason',
    ['outcome', 'reason'] as const,
  );
  readonly upstreamLatency = new Histogram({
    name: 'gatehouse_upstream_duration_seconds',
    help: 'Time from forwarding to the end of the upstream response',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly tokenCache = new HotCounter(this.registry, 'gatehouse_token_cache_total', 'Verified-token cache lookups', ['result'] as const);
  readonly storeErrors = new Counter({
    name: 'gatehouse_store_errors_total',
    help: 'Revocation store errors and requests answered while it was unavailable',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly tokenRequests = new Counter({
    name: 'gatehouse_token_requests_total',
    help: 'Token service requests by endpoint and outcome',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly tunnelsClosed = new Counter({
    name: 'gatehouse_websocket_closed_total',
    help: 'WebSocket tunnels Gatehouse ended because their token expired or was revoked',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly stale = new Gauge({
    name: 'gatehouse_config_stale',
    help: '1 while the file in use is not the one on disk (its new version was invalid), by source: config, users',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    this.stale.labels('config').set(0);
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  private readonly latencyChildren = new Map<string, { observe(v: number): void }>();

  /** Per-request accounting: two local counters and one histogram observation (label child cached). */
  recordRequest(route: string, status: number, outcome: string, reason: string, upstreamSeconds: number | null): void {
    this.requests.inc(route, String(status));
    this.authDecisions.inc(outcome, reason);
    if (upstreamSeconds !== null) {
      let h = this.latencyChildren.get(route);
      if (!h) this.latencyChildren.set(route, (h = this.upstreamLatency.labels(route)));
      h.observe(upstreamSeconds);
    }
  }

  setStale(source: 'config' | 'users', stale: boolean): void {
    this.stale.labels(source).set(stale ? 1 : 0);
  }

  onTunnelClosed(reason: string): void {
    this.tunnelsClosed.labels(reason).inc();
  }

  onCache(hit: boolean): void {
    this.tokenCache.inc(hit ? 'hit' : 'miss');
  }
}
