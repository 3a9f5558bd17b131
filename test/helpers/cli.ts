/**
 * The built CLI (dist/cli.js) as a child process: what the operator runs.
 * npm test builds first; a test file run on its own builds if dist/ is missing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Builds dist/ unless dist/cli.js is there. */
export function ensureBuilt(): void {
  if (!existsSync(CLI)) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
}

/**
 * `node dist/cli.js ...args` from the repository root, with `stdin` written
 * (or none), `unset` removed from the environment (GATEHOUSE_CONFIG and
 * NODE_OPTIONS always are), killed after `timeoutMs`.
 */
export function runCli(args: string[], opts: { stdin?: string | Buffer; unset?: string[]; timeoutMs?: number } = {}): Promise<CliRun> {
  ensureBuilt();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['GATEHOUSE_CONFIG', 'NODE_OPTIONS', ...(opts.unset ?? [])]) delete env[name];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
