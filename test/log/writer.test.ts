import { spawn, execFileSync } from 'node:child_process';
import { closeSync, constants, createReadStream, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogWriter } from '../../src/observe/log-writer.js';
import { tempDir } from '../helpers/keys.js';

const writers: LogWriter[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const w of writers.splice(0)) w.close();
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // already closed by the test
    }
  }
});

function writer(fd: number, opts: ConstructorParameters<typeof LogWriter>[1] = {}): LogWriter {
  const w = new LogWriter(fd, { intervalMs: 60_000, ...opts });
  writers.push(w);
  return w;
}
const open = (path: string, flags: number | string) => {
  const fd = openSync(path, flags);
  fds.push(fd);
  return fd;
};
let fifos = 0;
const fifo = () => {
  const path = join(tempDir(), `log-${++fifos}.fifo`);
  execFileSync('mkfifo', [path]);
  return path;
};
const line = (i: number, pad = 0) => `${JSON.stringify({ i, msg: 'request', pad: 'x'.repeat(pad) })}\n`;
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LogWriter: batching', () => {
  it('holds short output until a flush, then writes every line in order', () => {
    const file = join(tempDir(), 'out.log');
    const w = writer(open(file, 'w'));
    for (let i = 0; i < 3; i++) w.write(line(i));
    expect(readFileSync(file, 'utf8')).toBe('');
    w.flushSync();
    expect(readFileSync(file, 'utf8')).toBe(line(0) + line(1) + line(2));
  });

  it('starts writing once 4 KiB are pending, without waiting for the timer', async () => {
    const file = join(tempDir(), 'out.log');
    const w = writer(open(file, 'w'));
    const lines = Array.from({ length: 40 }, (_, i) => line(i, 100));
    for (const l of lines) w.write(l);
    // a first chunk of whole lines (at most 4 KiB) goes out in the background; the timer (60 s) plays no part
    await until(() => readFileSync(file, 'utf8').length > 3000);
    const early = readFileSync(file, 'utf8');
    expect(lines.join('').startsWith(early)).toBe(true);
    expect(early.endsWith('\n')).toBe(true);
    w.flushSync();
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  });

  it('a writer alone on its output (maxChunkBytes) batches more per write: nothing goes out below minLength, then whole lines in one write', async () => {
    const file = join(tempDir(), 'solo.log');
    const w = writer(open(file, 'w'), { minLength: 64 * 1024, maxChunkBytes: 64 * 1024 });
    const lines = Array.from({ length: 500 }, (_, i) => line(i, 100));
    for (const l of lines.slice(0, 300)) w.write(l); // ~37 KiB: under minLength, so held
    await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(file, 'utf8')).toBe('');
    for (const l of lines.slice(300)) w.write(l); // past 64 KiB: one write of whole lines, more than PIPE_BUF
    await until(() => readFileSync(file, 'utf8').length > 0);
    const first = readFileSync(file, 'utf8');
    expect(first.length).toBeGreaterThan(32 * 1024);
    expect(first.endsWith('\n')).toBe(true);
    expect(lines.join('').startsWith(first)).toBe(true);
    w.flushSync();
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  });

  it('writes short output within the interval', async () => {
    const file = join(tempDir(), 'out.log');
    const w = writer(open(file, 'w'), { intervalMs: 50 });
    w.write(line(1));
    await until(() => readFileSync(file, 'utf8') === line(1), 1000);
  });
});

describe('LogWriter: a broken or stalled reader never hangs the process', () => {
  it('EPIPE (the reader has gone): the flush returns at once, logging turns off, said once', () => {
    const path = fifo();
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const fd = open(path, constants.O_WRONLY | constants.O_NONBLOCK);
    closeSync(reader);
    const problems: string[] = [];
    const w = writer(fd, { onProblem: (m) => problems.push(m) });
    for (let i = 0; i < 10; i++) w.write(line(i));
    const t0 = Date.now();
    w.flushSync();
    expect(Date.now() - t0).toBeLessThan(100);
    expect(w.disabled).toBe(true);
    expect(problems).toEqual(['writing logs failed (EPIPE); logging is off from now on']);
    w.write(line(99));
    w.flushSync();
    expect(problems).toHaveLength(1);
  });

  it('EAGAIN (a reader that stopped reading a non-blocking pipe): the flush gives up after maxBlockMs and drops', async () => {
    const path = fifo();
    const reader = open(path, constants.O_RDONLY | constants.O_NONBLOCK); // open, never read
    const fd = open(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const w = writer(fd, { maxBlockMs: 100, onProblem: () => undefined });
    for (let i = 0; i < 400; i++) w.write(line(i, 500)); // ~200 KiB, over a 64 KiB pipe
    await new Promise((r) => setTimeout(r, 50)); // background writes fill the pipe
    const t0 = Date.now();
    w.flushSync();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(90);
    expect(took).toBeLessThan(1000);
    expect(w.droppedLines).toBeGreaterThan(0);
    expect(w.disabled).toBe(false);
    expect(reader).toBeGreaterThan(0);
  });

  it('a stalled reader costs dropped lines past maxPendingBytes, not an ever-growing buffer', async () => {
    const path = fifo();
    open(path, constants.O_RDONLY | constants.O_NONBLOCK); // never read
    const fd = open(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const problems: string[] = [];
    const w = writer(fd, { maxPendingBytes: 256 * 1024, onProblem: (m) => problems.push(m) });
    for (let i = 0; i < 2000; i++) w.write(line(i, 500)); // ~1 MiB
    expect(w.droppedLines).toBeGreaterThan(1000);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/cannot keep up/);
    w.close = () => undefined; // the pipe stays full: nothing more to flush in afterEach
  });

  it('a process whose log reader has gone still exits (flush at exit)', async () => {
    const script = join(tempDir(), 'child.mjs');
    const src = new URL('../../dist/observe/log.js', import.meta.url).href;
    writeFileSync(
      script,
      `import { createLogger } from ${JSON.stringify(src)};\nconst log = createLogger('info');\nprocess.stdin.once('data', () => { for (let i = 0; i < 5; i++) log.info({ i }, 'buffered'); process.exit(0); });\nlog.info('ready'); log.flush();\n`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.stdout.destroy(); // nobody reads the logs any more
    child.stdin.write('go\n');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code).toBe(0);
  });
});

describe('LogWriter: several processes on one pipe', () => {
  it('lines from two writers sharing a pipe arrive whole (writes of whole lines, at most PIPE_BUF bytes)', async () => {
    const path = fifo();
    const received: string[] = [];
    let rest = '';
    // open both ends without blocking: a non-blocking reader lets the writer open, then a blocking reader replaces it
    const probe = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const out = openSync(path, 'w');
    const input = openSync(path, 'r');
    closeSync(probe);
    const stream = createReadStream('', { fd: input, highWaterMark: 1024 });
    const done = new Promise<void>((r) => stream.on('end', () => r()));
    stream.on('data', (c) => {
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop()!;
      received.push(...lines);
      // a slow reader: the pipe fills and writers block, where a write over PIPE_BUF could be split
      stream.pause();
      setTimeout(() => stream.resume(), 1);
    });
    const script = join(tempDir(), 'writer.mjs');
    const src = new URL('../../dist/observe/log-writer.js', import.meta.url).href;
    writeFileSync(
      script,
      `const { LogWriter } = await import(${JSON.stringify(src)});\nconst w = new LogWriter(1);\nconst id = process.argv[2];\nfor (let i = 0; i < 3000; i++) w.write(JSON.stringify({ id, i, pad: 'y'.repeat(700 + (i % 300)) }) + '\\n');\nw.flushSync();\n`,
    );
    const children = ['a', 'b'].map((id) => spawn(process.execPath, [script, id], { stdio: ['ignore', out, 'inherit'] }));
    closeSync(out);
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    await done;
    expect(received).toHaveLength(6000);
    for (const l of received) expect(() => JSON.parse(l), l.slice(0, 80)).not.toThrow();
    expect(received.filter((l) => l.includes('"id":"a"'))).toHaveLength(3000);
  }, 30_000);
});
