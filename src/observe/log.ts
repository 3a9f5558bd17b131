import cluster from 'node:cluster';
import pino, { type Logger } from 'pino';
import { LogWriter } from './log-writer.js';

/**
 * JSON logs. Gatehouse never logs request headers or bodies wholesale (log
 * calls list their fields), but redaction stays as a second line of defence
 * (STYLE.md habit 7) for the places credentials could end up by mistake.
 * Only fixed paths: pino's wildcard paths cost ~15 µs on every line, which
 * the per-request log cannot afford.
 */
export const REDACT = [
  'authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  'body.password',
  'token',
  'access_token',
  'refresh_token',
  'body.refresh_token',
];

/**
 * A process that writes stdout alone batches up to 64 KiB per write: each
 * write costs a thread-pool round trip (tens of µs of CPU, a context switch
 * when the process is pinned to one core), so fewer, larger writes are
 * cheaper per line. Cluster workers share stdout and keep PIPE_BUF-sized
 * writes, which a pipe never interleaves.
 */
const SOLO_BATCH_BYTES = 64 * 1024;

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  // Batched stdout writes that can never hang the process (src/log-writer.ts).
  const dest = destination ?? new LogWriter(1, cluster.isWorker ? {} : { minLength: SOLO_BATCH_BYTES, maxChunkBytes: SOLO_BATCH_BYTES });
  return pino(
    { level, base: { service: 'gatehouse', pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    dest,
  );
}

export type { Logger };
