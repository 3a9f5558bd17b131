// Measurement: autocannon with the fixed load shape, rounds in rotated order,
// the CPU each process used while measured (bench/proc.mjs), runs measured
// again when other processes were busy, and the latency of one login on an
// idle connection. What is measured is bench/scenarios.mjs's; what is made of
// it, bench/report.mjs's.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { TICK, cpuSeconds, descendants } from './proc.mjs';

// Fixed load shape: the same for every scenario and every run.
export const CONNECTIONS = 50;
export const PIPELINING = 1;

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const round = (x, d = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);

let current = null; // running autocannon instance

/** Stops the running autocannon instance, if any (Ctrl-C). */
export function stopLoad() {
  current?.stop();
}

function cannon(opts) {
  return new Promise((resolve, reject) => {
    current = autocannon({ connections: CONNECTIONS, pipelining: PIPELINING, timeout: 10, ...opts }, (err, res) => {
      current = null;
      if (err) reject(err);
      else resolve(res);
    });
  });
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat; null elsewhere. */
function boxBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / TICK;
  } catch {
    return null;
  }
}

/**
 * CPU seconds so far of each measured process. A spec is a pid, or `{ tree: pid }` for a process with all its
 * descendants (a servers.mjs wrapper, the Gatehouse CLI primary it started and the primary's cluster workers;
 * the wrapper and redis-server): then `per` holds every pid's own figure.
 */
function cpuNow(procs) {
  return Object.fromEntries(
    Object.entries(procs).map(([k, spec]) => {
      if (typeof spec === 'number')
        return [k, { total: spec === process.pid ? (process.cpuUsage().user + process.cpuUsage().system) / 1e6 : cpuSeconds(spec) }];
      const per = {};
      for (const pid of [spec.tree, ...descendants(spec.tree)]) {
        const c = cpuSeconds(pid);
        if (c !== null) per[pid] = c;
      }
      return [k, { total: Object.keys(per).length ? Object.values(per).reduce((a, b) => a + b, 0) : null, per }];
    }),
  );
}

/**
 * Share of one core each process (tree) used between two snapshots. For a tree, summed per pid over the processes
 * alive at the end (one started meanwhile counts in full); `procs[k]` lists each pid's share, and `changed` says the
 * set of processes changed (a worker died: its CPU is lost).
 */
function cpuShares(cpu0, cpu1, seconds) {
  const cpu = {};
  const procs = {};
  let changed = false;
  for (const k of Object.keys(cpu1)) {
    const a = cpu0[k];
    const b = cpu1[k];
    if (!b.per) {
      cpu[k] = a.total === null || b.total === null ? null : round((b.total - a.total) / seconds, 2);
      continue;
    }
    if (b.total === null) {
      cpu[k] = null;
      continue;
    }
    const shares = Object.entries(b.per).map(([pid, c]) => [pid, (c - (a.per[pid] ?? 0)) / seconds]);
    if (Object.keys(a.per).some((pid) => !(pid in b.per)) || Object.keys(b.per).some((pid) => !(pid in a.per))) changed = true;
    cpu[k] = round(
      shares.reduce((x, [, v]) => x + v, 0),
      2,
    );
    procs[k] = Object.fromEntries(shares.map(([pid, v]) => [pid, round(v, 2)]));
  }
  return { cpu, procs, changed };
}

/** Gatehouse's token-cache counters from its admin /metrics; null for a server without an admin port (also bench/peers.mjs). */
export async function cacheCounters(adminPort) {
  if (!adminPort) return null;
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const read = (result) => Number(new RegExp(`^gatehouse_token_cache_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: read('hit'), miss: read('miss') };
}

/** One warm-up and one measured autocannon run of scenario `s` (see bench/scenarios.mjs `runnable`). */
async function measureOnce(s, r, { duration, warmup, upstreamPid }) {
  // Scenarios with per-run state (gatehouse-refresh) prepare it before each autocannon run, outside the measurement.
  const stats = s.newStats?.() ?? null;
  const withState = async () => (s.prepare ? { ...s.load, ...(await s.prepare(stats)) } : s.load);
  if (warmup > 0) await cannon({ ...(await withState()), duration: warmup });
  const warmupStats = stats ? { ...stats, statuses: { ...stats.statuses } } : null;
  const measuredOpts = await withState();
  const before = await cacheCounters(s.admin);
  // CLI instances: the wrapper, the CLI primary and its workers, all counted as the proxy; Redis scenarios: redis-server too
  const procs = { proxy: s.proxyTree ? { tree: s.proxy.child.pid } : s.proxy?.child.pid, upstream: upstreamPid, autocannon: process.pid };
  if (!s.proxy) delete procs.proxy;
  if (s.redis) procs.redis = { tree: s.redis.child.pid };
  const cpu0 = cpuNow(procs);
  const box0 = boxBusySeconds();
  const res = await cannon({ ...measuredOpts, duration });
  const cpu1 = cpuNow(procs);
  const box1 = boxBusySeconds();
  const after = await cacheCounters(s.admin);
  // share of one core each process used while measured (1.00 = one core busy all the time)
  const { cpu, procs: cpuProcs, changed: procsChanged } = cpuShares(cpu0, cpu1, res.duration);
  // whatever else ran on the machine meanwhile (other processes compete for the same cores and skew the figures)
  if (box0 !== null && box1 !== null && Object.values(cpu).every((v) => v !== null)) {
    cpu.others = round(Math.max(0, (box1 - box0) / res.duration - Object.values(cpu).reduce((a, b) => a + b, 0)), 2);
  }
  return {
    round: r + 1,
    rps: res.requests.average,
    p50: res.latency.p50,
    p99: res.latency.p99,
    total: res.requests.total,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    cache: before && after ? { hit: after.hit - before.hit, miss: after.miss - before.miss } : null,
    // gatehouse-refresh: session chains (warm-up and measured run together) and how many broke
    ...(stats ? { refresh: { ...stats, warmupBroken: warmupStats.broken, warmupNon200: warmupStats.non200 } } : {}),
    cpu,
    // process trees (CLI instances, redis): each pid's share; the proxy tree is wrapper, primary, workers in that order
    ...(Object.keys(cpuProcs).length ? { cpuProcs, ...(procsChanged ? { procsChanged } : {}) } : {}),
    // token-new: tokens sent so far by this scenario (its own counter over the shared pool)
    ...(s.tokens ? { tokensSentSoFar: s.tokens.sent } : {}),
    // proxy CPU (all its threads) per answered request: less sensitive than req/s to what else the box runs
    proxyCpuUsPerReq:
      cpu.proxy === null || cpu.proxy === undefined || !res.requests.total ? null : round((cpu.proxy * res.duration * 1e6) / res.requests.total, 1),
  };
}

/** The progress line of one measured run (stderr). */
function runLine(s, run, tag) {
  const bad = run.non2xx || run.errors ? `  !! ${run.non2xx} non-2xx, ${run.errors} errors` : '';
  const cache = run.cache && s.tokenCache ? `  cache hit ${run.cache.hit} / miss ${run.cache.miss}` : '';
  const chains = run.refresh
    ? `  chains ${run.refresh.chains}, broken ${run.refresh.broken}${run.refresh.broken ? ` !! ${run.refresh.non200} non-200 ${JSON.stringify(run.refresh.statuses)}` : ''}`
    : '';
  // a process tree also shows its processes' shares: for a CLI instance, wrapper + primary + workers
  const cpuText = Object.entries(run.cpu)
    .filter(([, v]) => v !== null)
    .map(
      ([k, v]) =>
        `${k} ${v.toFixed(2)}${
          k === 'proxy' && run.cpuProcs?.proxy
            ? ` (${Object.keys(run.cpuProcs.proxy).length} procs ${Object.values(run.cpuProcs.proxy)
                .map((x) => x.toFixed(2))
                .join('+')})`
            : ''
        }`,
    )
    .join(', ');
  return `${tag}  ${s.name.padEnd(32)} ${run.rps.toFixed(0).padStart(7)} req/s  p50 ${run.p50} ms  p99 ${run.p99} ms  cpu ${cpuText}${cache}${chains}${bad}\n`;
}

/**
 * Every scenario once per round, in an order rotated each round so that no scenario always runs first or after the
 * same neighbour. A run during which other processes used more than `maxOthers` cores is measured again (at most
 * twice per run, `maxRetries` times in all) and the last attempt is kept. Resolves with each scenario's runs, or
 * null once `stopped()` says the bench is being stopped.
 */
export async function measureRounds(scenarios, { rounds, duration, warmup, maxOthers, maxRetries, upstreamPid, stopped }) {
  const runs = new Map(scenarios.map((s) => [s.name, []]));
  let retriesLeft = maxRetries;
  for (let r = 0; r < rounds; r++) {
    const tag = `  round ${r + 1}/${rounds}`;
    const order = scenarios.map((_, i) => scenarios[(i + r) % scenarios.length]);
    for (const s of order) {
      if (stopped()) return null;
      let run;
      for (let attempt = 1; ; attempt++) {
        run = await measureOnce(s, r, { duration, warmup, upstreamPid });
        run.attempt = attempt;
        const others = run.cpu.others;
        // Other processes busy on this machine: measure again (a few times per run at most), keep the last.
        if (others === undefined || others <= maxOthers || attempt > 2 || retriesLeft <= 0) break;
        retriesLeft--;
        process.stderr.write(`${tag}  ${s.name.padEnd(32)} other processes used ${others.toFixed(2)} cores: measuring again\n`);
      }
      runs.get(s.name).push(run);
      if (run.procsChanged) process.stderr.write(`${tag}  ${s.name}: the set of processes changed during the run (a worker exited?): its CPU is missing\n`);
      process.stderr.write(runLine(s, run, tag));
    }
  }
  return runs;
}

/** Median (and min/max) wall time of `n` sequential POSTs of `body` to `path` on one keep-alive connection, in ms, after 2 unmeasured ones. */
export async function sequentialLatency(origin, path, body, n) {
  const client = new Client(origin, { pipelining: 1 });
  const once = async () => {
    const t0 = performance.now();
    const { statusCode, body: answer } = await client.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body });
    await answer.text();
    const ms = performance.now() - t0;
    if (statusCode !== 200) throw new Error(`sequential POST ${path} answered ${statusCode}`);
    return ms;
  };
  try {
    for (let i = 0; i < 2; i++) await once(); // warm: connection, dummy-hash promise, JIT
    const times = [];
    for (let i = 0; i < n; i++) times.push(await once());
    return { n, medianMs: round(median(times), 1), minMs: round(Math.min(...times), 1), maxMs: round(Math.max(...times), 1) };
  } finally {
    await client.close();
  }
}
