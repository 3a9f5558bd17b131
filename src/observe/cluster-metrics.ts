import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * /metrics with node:cluster workers: a scrape reaches one worker at random,
 * so each worker asks the primary, which sums every worker's registry with
 * prom-client's AggregatorRegistry. Without this, counters would jump between
 * scrapes and Prometheus would read resets.
 */

/** A worker's request for the summed metrics. */
export type MetricsRequest = { gatehouse: 'metrics'; id: number };
/** The primary's answer to a worker's MetricsRequest. */
type MetricsAnswer = { gatehouse: 'metrics-result'; id: number; text?: string; error?: string };

const METRICS_TIMEOUT_MS = 5000;
let metricsRequests = 0;
let answersHeard = false;
const pendingMetrics = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

/** In a worker: let the primary collect this registry (prom-client's AggregatorRegistry protocol). Elsewhere nothing. */
export function shareMetricsWithPrimary(registry: Registry): void {
  if (!cluster.isWorker) return;
  new AggregatorRegistry(); // installs prom-client's worker-side listener (idempotent)
  AggregatorRegistry.setRegistries([registry]);
  if (!answersHeard) {
    answersHeard = true;
    process.on('message', (msg: MetricsAnswer) => {
      if (msg?.gatehouse !== 'metrics-result') return;
      const pending = pendingMetrics.get(msg.id);
      if (!pending) return;
      pendingMetrics.delete(msg.id);
      clearTimeout(pending.timer);
      if (typeof msg.text === 'string') pending.resolve(msg.text);
      else pending.reject(new Error(msg.error ?? 'no metrics from the primary'));
    });
  }
}

/** In a worker: every worker's metrics, summed, from the primary; elsewhere null (ask the local registry). */
export function clusterMetrics(): Promise<string> | null {
  if (!cluster.isWorker || !process.send) return null;
  const id = ++metricsRequests;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pendingMetrics.delete(id);
      reject(new Error("the primary did not answer with the workers' metrics in time"));
    }, METRICS_TIMEOUT_MS);
    pendingMetrics.set(id, { resolve, reject, timer });
    process.send?.({ gatehouse: 'metrics', id } satisfies MetricsRequest);
  });
}

/** In the primary: sums the workers' registries for whoever asks. */
export class MetricsAggregator {
  private readonly aggregator = new AggregatorRegistry();

  /** Answers one worker's MetricsRequest. */
  answer(worker: Worker, request: MetricsRequest): void {
    const send = (a: Omit<MetricsAnswer, 'gatehouse' | 'id'>) => {
      if (worker.isConnected()) worker.send({ gatehouse: 'metrics-result', id: request.id, ...a } satisfies MetricsAnswer);
    };
    this.aggregator.clusterMetrics().then(
      (text) => send({ text }),
      (err: Error) => send({ error: err.message }),
    );
  }
}
