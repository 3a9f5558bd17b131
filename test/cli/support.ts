import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Running the built CLI (dist/cli.js) as a child process, the way users do. */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'dist/cli.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Exit>;
  /** resolves with the stream's text once `test` accepts it; rejects if the process exits first or after `ms` */
  waitFor(stream: 'stdout' | 'stderr', test: (text: string) => boolean, ms?: number): Promise<string>;
}

export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('GATEHOUSE_CONFIG' in extra)) delete env.GATEHOUSE_CONFIG;
  delete env.NODE_OPTIONS;
  return env;
}

export function spawnCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Cli {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const text = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    text.stdout += c;
    for (const l of listeners) l();
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    text.stderr += c;
    for (const l of listeners) l();
  });
  const exited = new Promise<Exit>((res) => child.once('close', (code, signal) => res({ code, signal })));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const l of listeners) l();
  });
  const cli: Cli = {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor: (stream, test, ms = 8000) =>
      new Promise((res, rej) => {
        const check = () => {
          if (test(text[stream])) {
            finish();
            res(text[stream]);
          } else if (done) {
            finish();
            rej(new Error(`gatehouse ${args.join(' ')} exited before ${stream} matched\nstdout: ${text.stdout}\nstderr: ${text.stderr}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          rej(new Error(`timed out waiting on ${stream} of gatehouse ${args.join(' ')}\nstdout: ${text.stdout}\nstderr: ${text.stderr}`));
        }, ms);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
  return cli;
}

/** Runs a command to completion (bounded) and returns its exit and output. */
export async function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; ms?: number } = {},
): Promise<Exit & { stdout: string; stderr: string }> {
  const cli = spawnCli(args, opts);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), opts.ms ?? 15_000)));
  const exit = await Promise.race([cli.exited, timeout]);
  clearTimeout(timer);
  if (exit === 'timeout') {
    cli.child.kill('SIGKILL');
    await cli.exited;
    throw new Error(`gatehouse ${args.join(' ')} did not exit\nstdout: ${cli.stdout()}\nstderr: ${cli.stderr()}`);
  }
  return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}
