// The bench's child processes, seen from the parent: one bench/servers.mjs
// child per server, started and stopped here (Redis last, after every
// Gatehouse that uses it), and the warn/error lines of those whose stdout is
// piped, counted. Used by bench/run.mjs, bench/wrk-check.mjs and
// bench/peers.mjs; freePort is shared with bench/servers.mjs.
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countLogLines, drainLogLines } from './lines.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

const children = new Set();

/** Gatehouse's warn/error lines (children started with `stdout: 'pipe'`), counted rather than printed in the middle of the table. */
export const logCounts = new Map();

/** Children started with `stdout: 'drain'` (bench/peers.mjs): name -> { lines, bytes, problems: Map of warn/error lines counted }. */
export const drained = new Map();

/**
 * Starts `bench/servers.mjs <args>` in a child process and resolves with the ports it reports.
 * `stdout`: 'inherit', 'ignore', 'pipe' (its lines are counted in `logCounts`), or 'drain' (read as cheaply as
 * possible: lines and bytes counted, only warn/error lines parsed, in `drained`);
 * `execArgv`: node flags for the child (--cpu-prof);
 * `last: true`: stopped after every other child (Redis, which the Gatehouses use until they stop).
 */
export function startChild(name, args, { stdout = 'inherit', env = {}, execArgv = [], last = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(join(HERE, 'servers.mjs'), args, {
      stdio: ['ignore', stdout === 'drain' ? 'pipe' : stdout, 'inherit', 'ipc'],
      env: { ...process.env, ...env },
      execArgv,
    });
    child.benchLast = last;
    children.add(child);
    if (stdout === 'pipe') countLogLines(name, child.stdout, logCounts);
    if (stdout === 'drain') {
      const stats = {};
      drained.set(name, stats);
      drainLogLines(name, child.stdout, stats);
    }
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after 20 s`)), 20_000);
    child.once('message', (msg) => {
      clearTimeout(timer);
      if (msg?.ready) resolve({ child, port: msg.port, adminPort: msg.adminPort, pid: msg.pid });
      else reject(new Error(`${name}: ${msg?.error ?? 'failed to start'}`));
    });
    child.once('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name}: exited during start-up (${signal ?? code})`));
    });
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return resolve();
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      children.delete(child);
      resolve();
    });
    // SIGTERM: the child closes its servers and exits (writing its CPU profile if any).
    child.kill('SIGTERM');
  });
}

/** Stops every child: first all but the `last` ones, then those. */
export async function stopChildren() {
  await Promise.all([...children].filter((c) => !c.benchLast).map(stopChild));
  await Promise.all([...children].map(stopChild));
}

/** A free loopback port (for a config file: the CLI with workers > 1 does not say which port it got; for redis-server). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
