import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per gateway (tests run several in one process). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'gatehouse_requests_total', help: 'Requests answered, by route and status', labelNames: ['route', 'status'] as const, registers: [this.registry] });
  readonly authDecisions = new Counter({ name: 'gatehouse_auth_decisions_total', help: 'Authentication/authorization decisions by outcome and reason', labelNames: ['outcome', 'reason'] as const, registers: [this.registry] });
  readonly upstreamLatency = new Histogram({
    name: 'gatehouse_upstream_duration_seconds',
    help: 'Time from forwarding to the end of the upstream response',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tokenCache = new Counter({ name: 'gatehouse_token_cache_total', help: 'Verified-token cache lookups', labelNames: ['result'] as const, registers: [this.registry] });
  readonly storeErrors = new Counter({ name: 'gatehouse_store_errors_total', help: 'Revocation store errors and requests answered while it was unavailable', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly tokenRequests = new Counter({ name: 'gatehouse_token_requests_total', help: 'Token service requests by endpoint and outcome', labelNames: ['endpoint', 'outcome'] as const, registers: [this.registry] });
  private readonly cacheHit = this.tokenCache.labels('hit');
  private readonly cacheMiss = this.tokenCache.labels('miss');

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  private readonly children = new Map<string, { inc(): void }>();
  private readonly latencyChildren = new Map<string, { observe(v: number): void }>();

  /**
   * Per-request accounting with the label children cached: prom-client's
   * labels() hashes its arguments on every call, which showed up in profiles.
   * Label values come from closed sets (route names, status codes, reason ids).
   */
  recordRequest(route: string, status: number, outcome: string, reason: string, upstreamSeconds: number | null): void {
    const rk = `r\u0000${route}\u0000${status}`;
    let r = this.children.get(rk);
    if (!r) this.children.set(rk, (r = this.requests.labels(route, String(status))));
    r.inc();
    const ak = `a\u0000${outcome}\u0000${reason}`;
    let a = this.children.get(ak);
    if (!a) this.children.set(ak, (a = this.authDecisions.labels(outcome, reason)));
    a.inc();
    if (upstreamSeconds !== null) {
      let h = this.latencyChildren.get(route);
      if (!h) this.latencyChildren.set(route, (h = this.upstreamLatency.labels(route)));
      h.observe(upstreamSeconds);
    }
  }

  onCache(hit: boolean): void {
    (hit ? this.cacheHit : this.cacheMiss).inc();
  }
}
