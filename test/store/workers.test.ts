/**
 * `server.workers: 2` with the Redis store (issue #4, SPEC §1-§2): the real
 * CLI forks two workers that share the listener and the store, a killed
 * worker is replaced, SIGTERM stops everything with exit 0, a memory store
 * with several workers is refused by `gatehouse check`, and a port in use
 * stops start-up with one line and no process left behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { accessToken, adminRevoke, gatewayRaw, issuerFiles, pollUntil, sleep, type IssuerFiles } from './support.js';
import { claimsOf } from '../tokens-service/support.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/cli.js');
const PREFIX = `gh-workers-${process.pid}:`;

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Proc>();

function spawnCli(args: string[]): Proc {
  const env = { ...process.env };
  delete env.GATEHOUSE_CONFIG;
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const text = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (text.stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (text.stderr += c));
  const proc: Proc = {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited: new Promise((res) => child.once('close', (code, signal) => res({ code, signal }))),
  };
  running.add(proc);
  return proc;
}

/** Process ids whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): number[] {
  const kids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) kids.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return kids.sort((a, b) => a - b);
}

/** Processes whose command line mentions `text` (the unique config path: the primary and its forked workers). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(text)) found.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

/** GET on a fresh connection (no keep-alive), so the primary hands each request to the next worker. */
function freshGet(url: string, token?: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = httpRequest(url, { agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('error', rej);
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Deadline for what the processes do by themselves (start, replace a worker, stop): generous, a loaded machine starts node slowly. */
const EVENTUALLY_MS = 60_000;
/** per test: several of those */
const TEST_MS = 240_000;

async function waitFor(proc: Proc, stream: 'stdout' | 'stderr', re: RegExp, ms = EVENTUALLY_MS): Promise<void> {
  await pollUntil(async () => re.test(stream === 'stdout' ? proc.stdout() : proc.stderr()) || proc.child.exitCode !== null, Boolean, {
    withinMs: ms,
    everyMs: 25,
    what: `${re} on ${stream}`,
  });
  if (!re.test(stream === 'stdout' ? proc.stdout() : proc.stderr())) throw new Error(`exited before ${re}\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`);
}

let redis: TestRedis;
let files: IssuerFiles;
let up: TestUpstream;
let n = 0;

function writeConfig(raw: Record<string, unknown>): string {
  const file = join(files.dir, `workers-${++n}.yaml`);
  writeFileSync(file, stringify(raw));
  return file;
}

// commandTimeout: nothing here tests timeouts, and a short one fires spuriously when a loaded machine stalls a worker's event loop (store down, 503)
const redisSection = () => ({ url: redis.url, keyPrefix: PREFIX, commandTimeout: '5s' });

/**
 * Until 20 requests on fresh connections all answer `status`. The primary
 * deals connections to the workers in turn, so that is both workers: used to
 * wait for both to be in sync with Redis (a worker starts listening after
 * giving its store 3 s, ready or not) or to have heard of a revocation.
 */
async function untilEveryWorkerAnswers(url: string, token: string, status: number, what: string): Promise<void> {
  await pollUntil(
    async () => [...new Set(await Promise.all(Array.from({ length: 20 }, () => freshGet(url, token))))],
    (seen) => seen.length === 1 && seen[0] === status,
    {
      withinMs: EVENTUALLY_MS,
      everyMs: 100,
      what,
    },
  );
}

beforeAll(async () => {
  if (!existsSync(CLI))
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'ignore',
      timeout: 120_000,
    });
  [redis, files, up] = await Promise.all([startRedis(), issuerFiles({}), startUpstream()]);
}, 150_000);

afterEach(async () => {
  for (const p of running) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
    // a primary killed this way leaves its workers: they notice the lost IPC channel and exit, but do not wait for that
    if (p.child.pid) for (const pid of childrenOf(p.child.pid)) process.kill(pid, 'SIGKILL');
  }
  running.clear();
});

afterAll(async () => {
  await up?.close();
  await redis?.stop();
  files?.cleanup();
});

describe('server.workers: 2 with the Redis store', () => {
  it(
    'two workers serve, a killed worker is replaced, SIGTERM stops them all with exit 0',
    async () => {
      const [port, adminPort] = [await freePort(), await freePort()];
      const config = writeConfig(
        gatewayRaw({
          files,
          upstream: up.url,
          redis: redisSection(),
          server: { listen: `127.0.0.1:${port}`, workers: 2, shutdownTimeout: '3s' },
          admin: { listen: `127.0.0.1:${adminPort}` },
        }),
      );
      const primary = spawnCli(['start', '-c', config]);
      await waitFor(primary, 'stderr', /2 workers listening/);
      const ppid = primary.child.pid as number;
      const workers = childrenOf(ppid);
      expect(workers).toHaveLength(2);
      const url = `http://127.0.0.1:${port}`;
      const token = await accessToken(files, 'workers-valid');
      await untilEveryWorkerAnswers(`${url}/api/ready`, token, 200, 'both workers in sync with Redis');

      // ~50 requests on fresh connections: all succeed, and the request logs show both workers answering
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => freshGet(`${url}/api/w${i}`, token)));
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect(await freshGet(`${url}/public/x`)).toBe(200);
      await pollUntil(
        async () => new Set([...primary.stdout().matchAll(/"pid":(\d+)[^\n]*"msg":"request"/g)].map((m) => Number(m[1]))),
        (pids) => workers.every((w) => pids.has(w)),
        { withinMs: EVENTUALLY_MS, everyMs: 100, what: 'request log lines from both workers' },
      );

      // a revocation through the (shared) admin port reaches both workers: every request on fresh connections is refused
      // (how fast a revocation spreads is fleet.test.ts's business; here it is that both workers share the store)
      const jti = crypto.randomUUID();
      const revoked = await accessToken(files, 'workers-revoked', jti);
      expect((await adminRevoke({ adminUrl: `http://127.0.0.1:${adminPort}` }, { jti, exp: claimsOf(revoked).exp })).status).toBe(204);
      await untilEveryWorkerAnswers(`${url}/api/r`, revoked, 401, 'the revocation on both workers');

      // SIGKILL one worker: the primary replaces it and requests keep succeeding
      const victim = workers[0] as number;
      process.kill(victim, 'SIGKILL');
      await waitFor(primary, 'stderr', new RegExp(`worker ${victim} died`));
      const during: number[] = [];
      const { value: replaced } = await pollUntil(
        async () => {
          during.push(await freshGet(`${url}/api/during`, token));
          return childrenOf(ppid);
        },
        (kids) => kids.length === 2 && !kids.includes(victim),
        { withinMs: EVENTUALLY_MS, everyMs: 20, what: 'a replacement worker' },
      );
      expect(replaced).toContain(workers[1]);
      // the replacement is serving once it is listening; until then the survivor answers
      await sleep(500);
      for (let i = 0; i < 30; i++) during.push(await freshGet(`${url}/api/after`, token));
      expect(during.filter((s) => s !== 200)).toEqual([]);
      expect(await freshGet(`${url}/api/r`, revoked)).toBe(401);

      // SIGTERM the primary: exit 0, every worker gone
      primary.child.kill('SIGTERM');
      const exit = await Promise.race([primary.exited, sleep(EVENTUALLY_MS).then(() => null)]);
      expect(exit, primary.stderr()).toEqual({ code: 0, signal: null });
      await pollUntil(
        async () => replaced.filter(alive),
        (left) => left.length === 0,
        { withinMs: EVENTUALLY_MS, what: 'workers gone' },
      );
      expect(processesMentioning(config)).toEqual([]);
    },
    TEST_MS,
  );

  it(
    '/metrics counts the requests of every worker, whichever worker answers the scrape',
    async () => {
      const [port, adminPort] = [await freePort(), await freePort()];
      const config = writeConfig(
        gatewayRaw({
          files,
          upstream: up.url,
          redis: redisSection(),
          server: { listen: `127.0.0.1:${port}`, workers: 2, shutdownTimeout: '3s' },
          admin: { listen: `127.0.0.1:${adminPort}` },
        }),
      );
      const primary = spawnCli(['start', '-c', config]);
      await waitFor(primary, 'stderr', /2 workers listening/);
      const workers = childrenOf(primary.child.pid as number);
      const url = `http://127.0.0.1:${port}`;
      const N = 40;
      expect(await Promise.all(Array.from({ length: N }, (_, i) => freshGet(`${url}/public/m${i}`)))).toEqual(Array(N).fill(200));
      // both workers served some of them (request log lines carry the pid)
      await pollUntil(
        async () => new Set([...primary.stdout().matchAll(/"pid":(\d+)[^\n]*"msg":"request"/g)].map((m) => Number(m[1]))),
        (pids) => workers.every((w) => pids.has(w)),
        { withinMs: EVENTUALLY_MS, everyMs: 100, what: 'request log lines from both workers' },
      );
      // scrapes on fresh connections land on either worker: each must report all N, not one worker's share
      const scrape = () =>
        new Promise<string>((res, rej) => {
          const req = httpRequest(`http://127.0.0.1:${adminPort}/metrics`, { agent: false }, (r) => {
            let body = '';
            r.setEncoding('utf8').on('data', (c: string) => (body += c));
            r.on('end', () => (r.statusCode === 200 ? res(body) : rej(new Error(`/metrics ${r.statusCode}: ${body}`))));
          });
          req.on('error', rej);
          req.end();
        });
      const counted = (text: string) => Number(/^gatehouse_requests_total\{route="public",status="200"\} (\d+)$/m.exec(text)?.[1] ?? -1);
      // a worker counts a request as its answer goes out, which a loaded machine may run after the client has read it: wait for the count to settle
      await pollUntil(
        async () => counted(await scrape()),
        (c) => c === N,
        { withinMs: EVENTUALLY_MS, everyMs: 100, what: `a scrape counting all ${N} requests` },
      );
      for (let i = 0; i < 6; i++) expect(counted(await scrape())).toBe(N);
      // the process metrics are the workers' together: one line per metric, not one per worker
      const text = await scrape();
      expect(text.match(/^# TYPE gatehouse_requests_total counter$/gm)).toHaveLength(1);
      primary.child.kill('SIGTERM');
      expect(await primary.exited).toEqual({ code: 0, signal: null });
    },
    TEST_MS,
  );

  it(
    'gatehouse check refuses workers: 2 with the memory store, at server.workers',
    async () => {
      const config = writeConfig({
        ...gatewayRaw({ files, upstream: up.url, redis: redisSection(), server: { listen: '127.0.0.1:8080', workers: 2 } }),
        revocation: { store: 'memory' },
      });
      const proc = spawnCli(['check', '-c', config]);
      const exit = await proc.exited;
      expect(exit.code).toBe(1);
      const lines = proc.stdout().split('\n').filter(Boolean);
      expect(lines.some((l) => l.startsWith('server.workers: '))).toBe(true);
      expect(proc.stdout() + proc.stderr()).toMatch(/redis/);
    },
    TEST_MS,
  );

  it(
    'workers: 2 on a port already in use: exit 1, one line on stderr, no process left',
    async () => {
      const holder: Server = createServer((c) => c.destroy());
      await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
      try {
        const port = (holder.address() as { port: number }).port;
        const config = writeConfig(
          gatewayRaw({
            files,
            upstream: up.url,
            redis: redisSection(),
            server: { listen: `127.0.0.1:${port}`, workers: 2 },
            admin: { listen: `127.0.0.1:${await freePort()}` },
          }),
        );
        const proc = spawnCli(['start', '-c', config]);
        const exit = await Promise.race([proc.exited, sleep(EVENTUALLY_MS).then(() => null)]);
        expect(exit, proc.stderr()).toEqual({ code: 1, signal: null });
        const lines = proc.stderr().split('\n').filter(Boolean);
        expect(lines, proc.stderr()).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`server\\.listen.*127\\.0\\.0\\.1:${port}.*in use`));
        await pollUntil(
          async () => processesMentioning(config),
          (left) => left.length === 0,
          { withinMs: EVENTUALLY_MS, what: 'no gatehouse process left' },
        );
      } finally {
        await new Promise<void>((r) => holder.close(() => r()));
      }
    },
    TEST_MS,
  );
});
