import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { GatehouseConfig } from '../config/schema.js';
import { MetricsAggregator, type MetricsRequest } from '../observe/cluster-metrics.js';

export function workerCount(config: GatehouseConfig): number {
  return config.server.workers === 'auto' ? availableParallelism() : config.server.workers;
}

/** What a worker tells the primary. */
export type WorkerMessage = { gatehouse: 'ready' } | { gatehouse: 'failed'; message: string } | MetricsRequest;

export function tellPrimary(msg: WorkerMessage): void {
  process.send?.(msg);
}

/**
 * `server.workers > 1`: the primary forks the workers, which share the
 * listening sockets (node:cluster), and only supervises them:
 * - start-up is all or nothing: if any worker fails before it is listening,
 *   every worker is stopped and the primary exits 1 with that worker's message;
 * - a worker that dies later is replaced (with a growing delay if it keeps dying);
 * - SIGTERM/SIGINT go to every worker, which drain; the primary exits 0 when all have;
 * - SIGHUP goes to every worker, each re-reads the config.
 */
export function runPrimary(count: number, log: (line: string) => void): Promise<number> {
  const aggregator = new MetricsAggregator();
  return new Promise((resolve) => {
    let started = 0;
    let stopping = false;
    let startupDone = false;
    const crashes: number[] = [];
    const fork = (): Worker => {
      const w = cluster.fork({ GATEHOUSE_WORKER: '1' });
      w.on('message', (msg: WorkerMessage) => {
        if (msg?.gatehouse === 'ready' && !startupDone && ++started === count) {
          startupDone = true;
          log(`gatehouse: ${count} workers listening`);
        } else if (msg?.gatehouse === 'metrics') {
          aggregator.answer(w, msg);
        } else if (msg?.gatehouse === 'failed' && !startupDone) {
          stopAll();
          log(`gatehouse: ${msg.message}`);
          stopping = true;
          exitWhenEmpty(1);
        }
      });
      return w;
    };
    const workers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    const stopAll = (signal: NodeJS.Signals = 'SIGTERM') => {
      for (const w of workers()) w.process.kill(signal);
    };
    const exitWhenEmpty = (code: number) => {
      const check = () => (workers().length === 0 ? resolve(code) : setTimeout(check, 50));
      check();
    };
    cluster.on('exit', (w, code, signal) => {
      if (stopping) return;
      if (!startupDone) {
        stopping = true;
        stopAll();
        log(`gatehouse: worker ${w.process.pid} exited during start-up (${signal ?? code})`);
        exitWhenEmpty(1);
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && (crashes[0] as number) < now - 60_000) crashes.shift();
      const delay = Math.min(100 * 2 ** Math.max(0, crashes.length - 1), 10_000);
      log(`gatehouse: worker ${w.process.pid} died (${signal ?? code}); starting a new one in ${delay} ms`);
      setTimeout(() => {
        if (!stopping) fork();
      }, delay);
    });
    const drain = () => {
      if (stopping) return;
      stopping = true;
      stopAll('SIGTERM');
      exitWhenEmpty(0);
    };
    process.on('SIGTERM', drain);
    process.on('SIGINT', drain);
    process.on('SIGHUP', () => {
      for (const w of workers()) w.process.kill('SIGHUP');
    });
    for (let i = 0; i < count; i++) fork();
  });
}

export const isWorker = () => cluster.isWorker;
