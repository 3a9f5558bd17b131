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

  onCache(hit: boolean): void {
    (hit ? this.cacheHit : this.cacheMiss).inc();
  }
}
