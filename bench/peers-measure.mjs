// Measurement for bench/peers.mjs: pinning processes to cores, one wrk run
// (pinned to the load core, bench/wrk/tokens.lua deciding what each request
// carries), the CPU of the proxy's process tree from /proc over exactly that
// run, what else the cores did meanwhile, and the rounds (rotated order,
// warm-up, noisy runs measured again). What is made of it is
// bench/peers-report.mjs's.
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { coreBusySeconds, cpuSeconds, descendants, treeAffinity, treeCpuSeconds } from './proc.mjs';

const LUA = join(dirname(fileURLToPath(import.meta.url)), 'wrk', 'tokens.lua');

/** The fixed load shape of every row: one wrk thread, 50 keep-alive connections (wrk's HTTP/1.1 default). */
export const WRK_THREADS = 1;
export const CONNECTIONS = 50;

/** Pins every thread of `pid` and of all its descendants to `cpus` (taskset -a -p -c). */
export function pinTree(pid, cpus) {
  for (const p of [pid, ...descendants(pid)]) pinOne(p, cpus);
}

/** Pins every thread of `pid` only (not its children): the bench itself. */
export function pinOne(pid, cpus) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  } catch (err) {
    // a process that exited meanwhile is no error here; the affinity check before each run catches the rest
    if (err.code === 'ENOENT') throw new Error('taskset is not on PATH (apt-get install -y util-linux)');
  }
}

/** The parsed end of a wrk run: requests, duration, req/s, non-2xx/3xx, socket errors, tokens.lua's line, wrk's CPU. */
function parseWrk(out) {
  const m = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(out);
  if (!m) throw new Error(`wrk printed no request count:\n${out}`);
  const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[m[3]];
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const tokens = /^tokens (.*)$/m.exec(out)?.[1];
  const statuses = /^statuses (.*)$/m.exec(out)?.[1];
  // bash's /proc/<pid>/stat after wrk exited: cutime + cstime (fields 16 and 17) are wrk's CPU
  const stat = /^bench-wrk-stat (.*)$/m.exec(out)?.[1];
  const f = stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : null;
  return {
    requests: Number(m[1]),
    seconds: Number(m[2]) * unit,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : null,
    statuses: statuses ? Object.fromEntries(statuses.split(' ').map((kv) => kv.split('=').map(Number))) : null,
    tokens: tokens
      ? Object.fromEntries(
          tokens
            .split(' ')
            .map((kv) => kv.split('='))
            .map(([k, v]) => [k, k === 'mode' ? v : Number(v)]),
        )
      : null,
    wrkCpuSeconds: f ? (Number(f[13]) + Number(f[14])) / 100 : null,
  };
}

let running = null; // the wrk child, for Ctrl-C

/** Stops the running wrk, if any. */
export function stopWrk() {
  running?.kill('SIGTERM');
}

/**
 * One wrk run of `seconds` against `url`, pinned to `cpus`, with tokens.lua given `args` (key=value strings; `mode`
 * decides BENCH_WRK_DYNAMIC). Run under bash so that wrk's own CPU can be read after it exits (bash's cutime).
 */
export function runWrk({ url, seconds, args, cpus }) {
  const mode = /^mode=(.*)$/.exec(args.find((a) => a.startsWith('mode=')) ?? '')?.[1] ?? 'none';
  const env = { ...process.env };
  if (mode === 'cycle' || mode === 'zipf') env.BENCH_WRK_DYNAMIC = mode;
  else delete env.BENCH_WRK_DYNAMIC;
  // a diagnostic: wrk counts the statuses in Lua (costs wrk CPU: not for figures)
  if (process.env.PEERS_STATUSES === '1') env.BENCH_WRK_STATUSES = '1';
  const script = '"$@"; rc=$?; read -r s < /proc/$$/stat; echo "bench-wrk-stat $s"; exit $rc';
  const argv = [
    '-c',
    cpus,
    'bash',
    '-c',
    script,
    'bash',
    'wrk',
    `-t${WRK_THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--timeout',
    '10s',
    '-s',
    LUA,
    url,
    '--',
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    running = child;
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      running = null;
      if (code !== 0) return reject(new Error(`wrk ${url} ${args.join(' ')} exited ${signal ?? code}: ${err.trim() || out.trim()}`));
      // wrk that cannot open or run its Lua script says so on stderr and measures on without it (exit 0):
      // a row that sent no tokens must not become a figure
      if (err.trim() !== '') return reject(new Error(`wrk ${url} ${args.join(' ')}: ${err.trim()}`));
      try {
        const parsed = parseWrk(out);
        if (env.BENCH_WRK_DYNAMIC && parsed.tokens === null)
          return reject(new Error(`wrk ${url}: the Lua script printed no "tokens" line (did it run?):\n${out}`));
        resolve(parsed);
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** CPU seconds so far of each process tree in `pids` ({ name: pid }), each core's busy seconds, and the time. */
function snapshot(pids) {
  const u = process.cpuUsage();
  return {
    t: performance.now() / 1000,
    // the proxy's main thread alone (its event loop, for Node.js): the rest is helper threads (libuv's pool, GC)
    main: pids.proxy ? cpuSeconds(pids.proxy, pids.proxy) : null,
    cores: coreBusySeconds(),
    self: (u.user + u.system) / 1e6,
    trees: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? treeCpuSeconds(pid) : null])),
  };
}

/** A cpu list as taskset and /proc write it ("0-1", "0,1", "1") in one form: "0,1". */
const cpuList = (list) =>
  list
    .split(',')
    .flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    })
    .join(',');

const r2 = (x) => (x === null || Number.isNaN(x) ? null : Math.round(x * 100) / 100);

/**
 * One measured run of `row` (a row of bench/peers-rows.mjs made runnable by bench/peers.mjs: `url`, `args()`,
 * `after(tokens)`, `proxyPid`, `cpus`, `admin`): CPU of the proxy's tree, of the backend, Redis, wrk and the bench
 * over exactly the wrk run; µs of proxy CPU per completed request; each core's busy share and what other processes
 * used.
 */
async function measureOnce(row, { seconds, warmup, backendPid, redisPid, loadCpus }) {
  if (warmup > 0) row.after((await runWrk({ url: row.url, seconds: warmup, args: row.args(), cpus: loadCpus })).tokens);
  const affinity = treeAffinity(row.proxyPid);
  const cache0 = await row.cacheCounters();
  const pids = { proxy: row.proxyPid, backend: backendPid, redis: redisPid };
  const s0 = snapshot(pids);
  const w = await runWrk({ url: row.url, seconds, args: row.args(), cpus: loadCpus });
  const s1 = snapshot(pids);
  const cache1 = await row.cacheCounters();
  row.after(w.tokens);
  const wall = s1.t - s0.t;
  const used = (k) => (s0.trees[k] === null || s1.trees[k] === null ? null : s1.trees[k] - s0.trees[k]);
  const proxy = used('proxy');
  const cores = Object.fromEntries(Object.keys(s1.cores).map((c) => [c, r2((s1.cores[c] - (s0.cores[c] ?? 0)) / wall)]));
  const ours = (proxy ?? 0) + (used('backend') ?? 0) + (used('redis') ?? 0) + (w.wrkCpuSeconds ?? 0) + (s1.self - s0.self);
  const busy = Object.keys(s1.cores).reduce((a, c) => a + (s1.cores[c] - (s0.cores[c] ?? 0)), 0);
  return {
    rps: w.rps,
    requests: w.requests,
    seconds: r2(w.seconds),
    non2xx: w.non2xx,
    socketErrors: w.socketErrors,
    errors: w.socketErrors ? Object.values(w.socketErrors).reduce((a, b) => a + b, 0) : 0,
    cpuUsPerReq: proxy === null || w.requests === 0 ? null : Math.round((proxy * 1e6 * 10) / w.requests) / 10,
    // of which the main thread of the proxy's first process (for the CLI rows: the primary, which forwards nothing)
    mainUsPerReq: s0.main === null || s1.main === null || w.requests === 0 ? null : Math.round(((s1.main - s0.main) * 1e6 * 10) / w.requests) / 10,
    // share of one core used over the run (1.00 = one core busy all the time)
    cpu: {
      proxy: r2(proxy / wall),
      backend: r2(used('backend') / wall),
      redis: redisPid ? r2(used('redis') / wall) : undefined,
      wrk: r2(w.wrkCpuSeconds / wall),
      bench: r2((s1.self - s0.self) / wall),
    },
    cores,
    // other processes on the machine (other people's test runs): busy time not ours
    others: r2(Math.max(0, busy - ours) / wall),
    // the proxy's core, what was busy there besides the proxy (when the proxy has that core alone)
    othersOnProxyCore: row.cpus.includes(',') ? null : r2(Math.max(0, (cores[row.cpus] ?? 0) - proxy / wall)),
    affinity,
    pinned: Object.keys(affinity).length === 1 && cpuList(Object.keys(affinity)[0] ?? '') === cpuList(row.cpus),
    cache: cache0 && cache1 ? { hit: cache1.hit - cache0.hit, miss: cache1.miss - cache0.miss } : null,
    tokens: w.tokens,
    ...(w.statuses ? { statuses: w.statuses } : {}),
    wrkOdd: wrkOdd(w, seconds),
  };
}

/**
 * What looks wrong in wrk's own account of a run, or null: a run that lasted much longer than asked (its req/s is
 * then low; target 4 is judged on req/s), or far more requests built by tokens.lua than wrk completed (each
 * connection has at most one in flight).
 */
function wrkOdd(w, seconds) {
  if (Math.abs(w.seconds - seconds) > 0.1 * seconds + 0.5) return `wrk ran ${w.seconds.toFixed(2)} s of the ${seconds} s asked`;
  const sent = w.tokens?.sent;
  if (typeof sent === 'number' && sent > w.requests + 2 * CONNECTIONS) return `tokens.lua built ${sent} requests, wrk completed ${w.requests}`;
  return null;
}

/**
 * Every row once per round, in an order rotated each round (no row always first; each row still follows the same
 * neighbour in every round but one, see bench/README.md on A/A runs);
 * `beforeRound(r)` runs first in each round (the node:crypto.verify loop). A run during which other processes used
 * more than `maxOthers` cores is measured again (at most twice per run, `maxRetries` in all), and the attempt with
 * the least other load is kept. Resolves with each row's runs, or null once `stopped()` says so.
 */
export async function measureRounds(rows, opts) {
  const { rounds, maxOthers, maxRetries, stopped, beforeRound } = opts;
  const runs = new Map(rows.map((r) => [r.name, []]));
  let retriesLeft = maxRetries;
  for (let r = 0; r < rounds; r++) {
    await beforeRound(r);
    const order = rows.map((_, i) => rows[(i + r) % rows.length]);
    for (const row of order) {
      if (stopped()) return null;
      const attempts = [];
      for (;;) {
        const run = await measureOnce(row, opts);
        attempts.push(run);
        if (run.others <= maxOthers || attempts.length > 2 || retriesLeft <= 0 || stopped()) break;
        retriesLeft--;
        process.stderr.write(`  round ${r + 1}/${rounds}  ${row.name.padEnd(28)} other processes used ${run.others.toFixed(2)} cores: measuring again\n`);
      }
      const best = attempts.reduce((a, b) => (b.others < a.others ? b : a));
      best.round = r + 1;
      best.attempts = attempts.length;
      runs.get(row.name).push(best);
      process.stderr.write(runLine(row, best, `  round ${r + 1}/${rounds}`));
    }
  }
  return runs;
}

/** The progress line of one kept run (stderr). */
function runLine(row, x, tag) {
  const bad = x.non2xx || x.errors ? `  !! ${x.non2xx} non-2xx, ${x.errors} socket errors${x.statuses ? ` ${JSON.stringify(x.statuses)}` : ''}` : '';
  const pin = x.pinned ? '' : `  !! not pinned as asked (${row.cpus}): ${JSON.stringify(x.affinity)}`;
  const odd = x.wrkOdd ? `  !! ${x.wrkOdd}` : '';
  const cache = x.cache && row.load !== 'none' ? `  cache hit ${x.cache.hit} / miss ${x.cache.miss}` : '';
  const tok =
    x.tokens?.mode === 'zipf'
      ? `  users ${x.tokens.users}, renewed ${x.tokens.renewed}`
      : x.tokens?.mode === 'cycle'
        ? `  tokens ${x.tokens.sent}${x.tokens.wrapped ? ' (pool wrapped)' : ''}`
        : '';
  const cpu = Object.entries(x.cpu)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  return `${tag}  ${row.name.padEnd(28)} ${x.rps.toFixed(0).padStart(6)} req/s  ${String(x.cpuUsPerReq ?? '-').padStart(6)} us/req  cpu ${cpu}; others ${x.others.toFixed(2)}${x.attempts > 1 ? ` (best of ${x.attempts})` : ''}${cache}${tok}${pin}${odd}${bad}\n`;
}
