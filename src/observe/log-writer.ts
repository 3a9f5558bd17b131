import { write, writeSync } from 'node:fs';

const PIPE_BUF = 4096;
/** Pending log output beyond this is dropped (counted) rather than held: a stalled reader must not grow the heap without end. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

export interface LogWriterOptions {
  /** bytes pending that trigger a write (default 4,096) */
  minLength?: number;
  /**
   * the largest write (default 4,096 = PIPE_BUF, which a pipe takes in one
   * piece, so that processes sharing stdout never interleave lines); a
   * process that writes stdout alone may batch more per write
   */
  maxChunkBytes?: number;
  /** a write at least this often while lines are pending (default 250 ms) */
  intervalMs?: number;
  /** how long a synchronous flush (at exit) retries a full non-blocking pipe (EAGAIN) before dropping (default 200 ms) */
  maxBlockMs?: number;
  maxPendingBytes?: number;
  /** told once, when output failed for good (EPIPE, EBADF) or when lines were first dropped */
  onProblem?: (message: string) => void;
}

/**
 * Gatehouse's stdout log destination: lines are batched (a write at 4 KiB or
 * every 250 ms) because one write(2) per line cost ~25% of throughput at
 * `info`, and written off the event loop (fs.write), one chunk at a time, in
 * whole lines of at most PIPE_BUF bytes where it can: a pipe takes such a
 * write in one piece, so lines from workers sharing stdout never interleave.
 *
 * Unlike pino.destination (sonic-boom 4) it cannot hang the process: the
 * synchronous flush at exit gives up on a full non-blocking pipe after
 * `maxBlockMs`, and any write error other than EAGAIN (EPIPE when the log
 * reader has gone: a dead sidecar, `gatehouse start | tee` with tee killed)
 * turns logging off, said once on stderr; sonic-boom's flushSync retries such
 * a write every 100 ms without end, which kept a gateway alive after SIGTERM.
 * A reader that stalls costs dropped lines past `maxPendingBytes`, never an
 * ever-growing buffer. Losing log lines beats a stuck or bloated gateway.
 */
export class LogWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private broken = false;
  private dropped = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.flushSync();

  constructor(
    private readonly fd = 1,
    private readonly opts: LogWriterOptions = {},
  ) {
    this.timer = setInterval(() => this.kick(), opts.intervalMs ?? 250);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  /** pino's destination contract: one serialised line per call. */
  write(line: string): boolean {
    if (this.broken) return true;
    const buf = Buffer.from(line);
    if (this.pendingBytes + buf.length > (this.opts.maxPendingBytes ?? MAX_PENDING_BYTES)) {
      if (this.dropped++ === 0) this.problem('log output cannot keep up (the reader of stdout is stalled): dropping lines until it drains');
      return true;
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= (this.opts.minLength ?? PIPE_BUF)) this.kick();
    return true;
  }

  /** pino's logger.flush(cb): whatever is pending goes out now. */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  /** Writes everything pending before returning (stop, exit). A chunk already in flight may land after it. */
  flushSync(): void {
    const giveUpAt = Date.now() + (this.opts.maxBlockMs ?? 200);
    while (this.pending.length > 0 && !this.broken) {
      const chunk = this.takeChunk();
      let offset = 0;
      while (offset < chunk.length) {
        try {
          offset += writeSync(this.fd, chunk, offset);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code === 'EAGAIN' && Date.now() < giveUpAt) {
            sleep(5);
            continue;
          }
          if (err.code === 'EAGAIN') {
            this.drop(); // the reader is stalled: give up on what is left rather than block
            return;
          }
          this.fail(err);
          return;
        }
      }
    }
  }

  /** Lines dropped because the reader could not keep up. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** True once a write failed for good and logging went quiet. */
  get disabled(): boolean {
    return this.broken;
  }

  /** Flushes and detaches (tests; a gateway's logger lives as long as the process). */
  close(): void {
    this.flushSync();
    clearInterval(this.timer);
    process.off('exit', this.onExit);
  }

  /** Starts an asynchronous write of the next chunk unless one is in flight. */
  private kick(): void {
    if (this.writing || this.broken || this.pending.length === 0) return;
    this.writing = true;
    const chunk = this.takeChunk();
    const send = (buf: Buffer) =>
      write(this.fd, buf, 0, buf.length, null, (err, n) => {
        if (err) {
          if (err.code === 'EAGAIN') {
            setTimeout(() => send(buf), 10).unref();
            return;
          }
          this.writing = false;
          this.fail(err);
          return;
        }
        if (n < buf.length) {
          send(buf.subarray(n));
          return;
        }
        this.writing = false;
        if (this.pendingBytes >= (this.opts.minLength ?? PIPE_BUF)) this.kick();
      });
    send(chunk);
  }

  /** Whole lines from the front of the queue, at most maxChunkBytes (PIPE_BUF) bytes unless one line is longer. */
  private takeChunk(): Buffer {
    let n = 0;
    let bytes = 0;
    const max = this.opts.maxChunkBytes ?? PIPE_BUF;
    while (n < this.pending.length && (n === 0 || bytes + this.pending[n]!.length <= max)) bytes += this.pending[n++]!.length;
    const lines = this.pending.splice(0, n);
    this.pendingBytes -= bytes;
    return lines.length === 1 ? lines[0]! : Buffer.concat(lines, bytes);
  }

  private drop(): void {
    this.dropped += this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private fail(err: NodeJS.ErrnoException): void {
    this.broken = true;
    this.drop();
    this.problem(`writing logs failed (${err.code ?? err.message}); logging is off from now on`);
  }

  private problem(message: string): void {
    if (this.opts.onProblem) {
      this.opts.onProblem(message);
      return;
    }
    try {
      writeSync(2, `gatehouse: ${message}\n`);
    } catch {
      // stderr is gone too: nothing left to tell
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => void Atomics.wait(SLEEPER, 0, 0, ms);
