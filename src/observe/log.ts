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
  const logger = pino(
    { level, base: { service: 'gatehouse', pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    dest,
  );
  OURS.add(logger);
  return logger;
}

/** Loggers made by createLogger: their options (ISO time, `msg`, no hooks, formatters or mixin) are known. */
const OURS = new WeakSet<Logger>();

/** A line's fields already serialised: `,"key":value` for each, in order (JSON.stringify for every string). */
export type InfoLine = (fields: string, msg: string) => void;

/**
 * For a logger made by createLogger: writes one info line whose fields the
 * caller serialised itself, byte for byte what `logger.info(obj, msg)` would
 * write (level, ISO time, the logger's bindings, the fields, msg), without
 * pino's generic walk over the object (~3 µs a line, on every request at
 * `info`). Null for any other logger: the caller uses logger.info.
 *
 * Redaction does not run on such a line: only callers whose field names are
 * none of REDACT's may use it (the access log: reqId, method, path, ...).
 * The caller checks the level first (logger.isLevelEnabled).
 */
export function infoLineWriter(logger: Logger): InfoLine | null {
  if (!OURS.has(logger)) return null;
  const holder = logger as unknown as Record<symbol, unknown>;
  const { chindingsSym, streamSym } = pino.symbols;
  const msgKey = ',"msg":';
  return (fields, msg) => {
    const stream = holder[streamSym] as pino.DestinationStream;
    stream.write(`{"level":30,"time":"${isoNow()}"${holder[chindingsSym] as string}${fields}${msgKey}${JSON.stringify(msg)}}\n`);
  };
}

let lastMs = 0;
let lastIso = '';
/** pino's isoTime, computed at most once a millisecond. */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

export type { Logger };
