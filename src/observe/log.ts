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

export interface LoggerOptions {
  /**
   * Queue the lines of `batchedInfoLines` and serialise them in batches
   * (below). On by default for Gatehouse's own stdout writer; a caller that
   * passes its own destination (tests reading lines as they come) gets every
   * line at once unless it asks for batching.
   */
  batch?: boolean;
}

export function createLogger(level: string, destination?: pino.DestinationStream, opts: LoggerOptions = {}): Logger {
  // Batched stdout writes that can never hang the process (src/log-writer.ts).
  const dest = destination ?? new LogWriter(1, cluster.isWorker ? {} : { minLength: SOLO_BATCH_BYTES, maxChunkBytes: SOLO_BATCH_BYTES });
  const batch = (opts.batch ?? destination === undefined) ? new LineBatch(dest) : null;
  const logger = pino(
    { level, base: { service: 'gatehouse', pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    // pino's own lines go out after every queued line, so the output keeps the order the calls were made in
    batch ? batch.front() : dest,
  );
  OURS.set(logger, { dest, batch });
  return logger;
}

/** Loggers made by createLogger (their options are known: ISO time, `msg`, no hooks, formatters or mixin), with their destination. */
const OURS = new WeakMap<Logger, { dest: pino.DestinationStream; batch: LineBatch | null }>();

/** Writes one entry as an info line; `serialize` gives its fields, `,"key":value` for each, in order (JSON.stringify for every string). */
export type InfoLines<E> = (entry: E) => void;

/**
 * For a logger made by createLogger: info lines whose fields the caller
 * serialises itself, byte for byte what `logger.info(obj, msg)` would write
 * (level, ISO time of the call, the logger's bindings, the fields, msg),
 * without pino's generic walk over the object (~3 µs a line, on every
 * request at `info`). Null for any other logger: the caller uses logger.info.
 *
 * With batching (createLogger's default for stdout) an entry is queued and
 * the queue serialised 64 entries at a time, or 50 ms after its first entry,
 * or before any other line of the logger, at logger.flush() and at exit.
 * Measured with bench:peers (raw undici + this accounting, same run, 7
 * rounds): serialising one line between two requests cost ~15-20 µs more
 * CPU per request than serialising them in a batch, although the code is
 * the same; the difference is the caches the hot path loses to it.
 *
 * Redaction does not run on these lines: only callers whose field names are
 * none of REDACT's may use it (the access log: reqId, method, path, ...).
 * The caller checks the level first (logger.isLevelEnabled).
 */
export function batchedInfoLines<E>(logger: Logger, serialize: (entry: E) => string, msg: string): InfoLines<E> | null {
  const ours = OURS.get(logger);
  if (!ours) return null;
  const holder = logger as unknown as Record<symbol, unknown>;
  const tail = `,"msg":${JSON.stringify(msg)}}\n`;
  const line = (entry: E, time: number) => `{"level":30,"time":"${isoAt(time)}"${holder[pino.symbols.chindingsSym] as string}${serialize(entry)}${tail}`;
  const { dest, batch } = ours;
  if (!batch) return (entry) => void dest.write(line(entry, Date.now()));
  return (entry) => batch.push(line as (entry: unknown, time: number) => string, entry);
}

const BATCH_ENTRIES = 64;
const BATCH_MAX_DELAY_MS = 50;

/** The queue of batchedInfoLines entries of one logger, in front of its destination. */
class LineBatch {
  private readonly lines: Array<(entry: unknown, time: number) => string> = [];
  private readonly entries: unknown[] = [];
  private readonly times: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly onExit = () => {
    this.drain();
    (this.dest as { flushSync?: () => void }).flushSync?.();
  };

  /** Drained at exit, like the writer behind it (a logger lives as long as its process). */
  constructor(private readonly dest: pino.DestinationStream) {
    process.on('exit', this.onExit);
  }

  /** The destination pino writes to: the queue is drained before each of its lines, and by flush. */
  front(): pino.DestinationStream & { flush(cb?: (err?: Error) => void): void; flushSync(): void } {
    const dest = this.dest as pino.DestinationStream & { flush?: (cb?: (err?: Error) => void) => void; flushSync?: () => void };
    return {
      write: (line: string) => {
        this.drain();
        return dest.write(line);
      },
      flush: (cb) => {
        this.drain();
        if (dest.flush) dest.flush(cb);
        else cb?.();
      },
      flushSync: () => {
        this.drain();
        dest.flushSync?.();
      },
    };
  }

  push(line: (entry: unknown, time: number) => string, entry: unknown): void {
    this.lines.push(line);
    this.entries.push(entry);
    this.times.push(Date.now());
    if (this.entries.length >= BATCH_ENTRIES) this.drain();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.drain(), BATCH_MAX_DELAY_MS);
      this.timer.unref();
    }
  }

  /** Serialises and writes every queued entry, one line per write (a worker's writer keeps lines whole within PIPE_BUF). */
  drain(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const n = this.entries.length;
    if (n === 0) return;
    for (let i = 0; i < n; i++) this.dest.write(this.lines[i]!(this.entries[i], this.times[i]!));
    this.lines.length = 0;
    this.entries.length = 0;
    this.times.length = 0;
  }
}

let lastMs = 0;
let lastIso = '';
/** pino's isoTime for the instant `ms`, made once per millisecond. */
function isoAt(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

export type { Logger };
