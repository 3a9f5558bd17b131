import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL: no shutdown save, like a crash */
  kill(): Promise<void>;
  /** start again on the same port and data dir (AOF keeps what was written) */
  restart(): Promise<void>;
  /** SIGSTOP: the server freezes with its connections open and answers nothing until `resume` (a stall of any length) */
  pause(): void;
  /** SIGCONT: the frozen server carries on with what queued up meanwhile */
  resume(): void;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.end();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A real redis-server from PATH on a free loopback port, with its own data
 * directory and AOF (appendfsync always) so a kill + restart keeps what was
 * acknowledged. Extra args are passed through (e.g. ['--cluster-enabled', 'yes']).
 */
export async function startRedis(extra: string[] = [], port?: number): Promise<TestRedis> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  let proc: ChildProcess | null = null;
  const launch = async () => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(p),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--protected-mode',
        'no',
        ...extra,
      ],
      { stdio: 'ignore' },
    );
    proc.on('error', (e) => {
      throw new Error(`cannot start redis-server (is it on PATH?): ${e.message}`);
    });
    await waitForPort(p);
  };
  const exited = () =>
    new Promise<void>((resolve) => {
      const cp = proc;
      if (!cp || cp.exitCode !== null || cp.signalCode !== null) return resolve();
      cp.once('exit', () => resolve());
    });
  await launch();
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    dir,
    async kill() {
      proc?.kill('SIGKILL');
      await exited();
    },
    async restart() {
      await launch();
    },
    pause() {
      proc?.kill('SIGSTOP');
    },
    resume() {
      proc?.kill('SIGCONT');
    },
    async stop() {
      proc?.kill('SIGKILL');
      await exited();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** REDIS_URL, if the environment provides a Redis, else null. */
export const externalRedis = (): string | null => process.env.REDIS_URL ?? null;
