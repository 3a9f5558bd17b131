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
  inc(a: string, b?: string): void {
    const key = b === undefined ? a : `${a}\u0000${b}`;
    const cell = this.cells.get(key);
    if (cell) cell.n++;
    else this.cells.set(key, { values: b === undefined ? [a] : [a, b], n: 1, pushed: 0 });
  }
}

/** One value of a metric as prom-client's registry reads it. */
type Sample = { metricName: string; labels: Record<string, string | number>; value: number };

/**
 * A histogram with one label, observed on every proxied request. prom-client's
 * observe() validates and hashes the labels and copies objects each time
 * (~1.6 µs a request in the profile); here an observation is a bucket search
 * and three additions on plain arrays. It registers itself in the registry as
 * a metric object of prom-client's shape (`get()`, `aggregator: 'sum'`), so
 * /metrics and the cluster sum read it like any histogram.
 */
class HotHistogram<L extends string> {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly series = new Map<string, { counts: Float64Array; sum: number; count: number }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly label: L,
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(this as unknown as Histogram);
  }

  observe(labelValue: string, value: number): void {
    let s = this.series.get(labelValue);
    if (!s) this.series.set(labelValue, (s = { counts: new Float64Array(this.bounds.length), sum: 0, count: 0 }));
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** prom-client's histogram data: cumulative `_bucket` values (le, then the label), `_sum` and `_count` per series. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    for (const [labelValue, s] of this.series) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]!, [this.label]: labelValue }, value: acc });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.label]: labelValue }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: labelValue }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: labelValue }, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series.clear();
  }
}

/** Status codes as label values, made once rather than per request. */
const STATUS_TEXT: readonly string[] = Array.from({ length: 600 }, (_, i) => String(i));

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
  private readonly upstreamLatency = new HotHistogram(
    this.registry,
    'gatehouse_upstream_duration_seconds',
    'Time from forwarding to the end of the upstream response',
    'route',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
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

  /** Per-request accounting: two local counters and one histogram observation, all on plain numbers. */
  recordRequest(route: string, status: number, outcome: string, reason: string, upstreamSeconds: number | null): void {
    this.requests.inc(route, STATUS_TEXT[status] ?? String(status));
    this.authDecisions.inc(outcome, reason);
    if (upstreamSeconds !== null) this.upstreamLatency.observe(route, upstreamSeconds);
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
