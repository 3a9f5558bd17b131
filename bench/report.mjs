// The report of a run: medians per scenario, ratios to the faster raw
// pass-through, the targets checked against their references of the same run,
// the ratios reported without a target, the table and the lines below it
// (stdout), and bench/results/latest.json. See bench/README.md, "Reading the
// output".
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { COMPARISONS, THROTTLE } from './scenarios.mjs';
import { CONNECTIONS, PIPELINING, median, round } from './measure.mjs';

const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);

/** One row per scenario: medians of its runs, totals of what went wrong, and what the scenario is. */
function summarise(scenarios, runs, { dir, argon2, loginLatency }) {
  return scenarios.map((s) => {
    const rs = runs.get(s.name);
    return {
      scenario: s.name,
      description: s.what,
      // how the proxy under test was started: Gateway.start in a bench child, or `node dist/cli.js start -c FILE`
      ...(s.launcher ? { launcher: s.launcher, workers: s.workers, store: s.store } : {}),
      ...(s.configFile ? { configFile: s.configFile.replace(dir, '<tmp>') } : {}),
      ...(s.tokens ? { tokensSent: s.tokens.sent, tokenPool: s.tokens.pool } : {}),
      rps: round(median(rs.map((x) => x.rps)), 0),
      p50Ms: median(rs.map((x) => x.p50)),
      p99Ms: median(rs.map((x) => x.p99)),
      proxyCpuUsPerReq: rs.every((x) => x.proxyCpuUsPerReq !== null) ? median(rs.map((x) => x.proxyCpuUsPerReq)) : null,
      non2xx: sum(rs, (x) => x.non2xx),
      errors: sum(rs, (x) => x.errors),
      cache: rs.every((x) => x.cache) ? { hit: sum(rs, (x) => x.cache.hit), miss: sum(rs, (x) => x.cache.miss) } : null,
      ...(s.auth === 'login' ? { argon2, singleConnectionLogin: loginLatency } : {}),
      ...(rs.every((x) => x.refresh)
        ? {
            refreshChains: {
              chains: sum(rs, (x) => x.refresh.chains),
              logins: sum(rs, (x) => x.refresh.logins),
              refreshed: sum(rs, (x) => x.refresh.ok),
              broken: sum(rs, (x) => x.refresh.broken),
              non200: sum(rs, (x) => x.refresh.non200),
            },
          }
        : {}),
      runs: rs,
    };
  });
}

const INVALID = 'INVALID (non-2xx answers or failed requests)';

/**
 * Targets and comparisons, checked on the summary. A target is not checked when its scenario or its reference is
 * not in the run (BENCH_ONLY). `text` goes in the table, `json` in latest.json, `line` (if the target has one)
 * below the table.
 */
function judge(scenarios, by, maxOthers) {
  const broke = (s) => s.non2xx || s.errors || s.refreshChains?.broken;
  const noisy = (s) => s.runs.some((x) => x.cpu.others !== undefined && x.cpu.others !== null && x.cpu.others > maxOthers);
  const cpuPer = (s) => (s.proxyCpuUsPerReq === null ? '-' : `${s.proxyCpuUsPerReq.toFixed(0)} us`);
  const checked = new Map();
  for (const { name, target: t } of scenarios) {
    const s = by[name];
    if (!t) continue;
    if (t.minRps !== undefined) {
      const valid = !broke(s);
      const pass = valid && s.rps >= t.minRps;
      checked.set(name, {
        text: `>= ${t.minRps} req/s: ${s.rps} ${valid ? (pass ? 'PASS' : 'MISS') : 'INVALID (non-200 answers)'}`,
        json: { scenario: name, description: t.what, against: 'absolute', minRps: t.minRps, rps: s.rps, valid, pass },
      });
      continue;
    }
    const vs = by[t.vs];
    if (!vs) continue;
    const ratio = s.rps / vs.rps;
    const valid = !broke(s) && !broke(vs);
    const pass = valid && (t.above !== undefined ? ratio > t.above : ratio >= t.min);
    const isNoisy = noisy(s) || noisy(vs);
    const bound = t.above !== undefined ? `> ${t.above.toFixed(2)}x` : `>= ${t.min.toFixed(2)}x`;
    const verdict = valid ? (pass ? 'PASS' : 'MISS') : INVALID;
    checked.set(name, {
      text: `${bound} ${t.label}: ${ratio.toFixed(2)}x ${verdict}`,
      json: {
        scenario: name,
        description: t.what,
        against: t.vs,
        ...(t.above !== undefined ? { above: t.above } : { min: t.min }),
        ratio: round(ratio, 3),
        valid,
        pass,
        noisy: isNoisy,
      },
      line: t.line?.({
        rps: s.rps,
        vsRps: vs.rps,
        ratio: ratio.toFixed(2),
        cpu: cpuPer(s),
        vsCpu: cpuPer(vs),
        bound,
        verdict: verdict + (isNoisy ? ' (noisy: other processes were busy)' : ''),
      }),
    });
  }
  const comparisons = COMPARISONS.filter((c) => by[c.scenario] && by[c.vs] && !(c.onlyWithout && by[c.onlyWithout])).map((c) => {
    const [s, vs] = [by[c.scenario], by[c.vs]];
    const json = {
      scenario: c.scenario,
      against: c.vs,
      description: c.what,
      ratio: round(s.rps / vs.rps, 3),
      cpuUsPerReq: [s.proxyCpuUsPerReq, vs.proxyCpuUsPerReq],
      valid: !broke(s) && !broke(vs),
      noisy: noisy(s) || noisy(vs),
    };
    const line = `${c.what}: ${s.rps} / ${vs.rps} req/s = ${json.ratio.toFixed(2)}x; cpu/req ${cpuPer(s)} vs ${cpuPer(vs)} (no target${json.valid ? '' : '; INVALID: non-2xx answers or failed requests'}${json.noisy ? '; noisy: other processes were busy' : ''})`;
    return { json, line };
  });
  return { checked, comparisons, broke };
}

/** The table: one row per scenario. */
function table(summary, checked, baseline, broke) {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'cpu us/req', baseline ? `x ${baseline}` : 'ratio', 'target'];
  const rows = summary.map((s) => [
    s.scenario + (broke(s) ? ' (!)' : ''),
    String(s.rps),
    String(s.p50Ms),
    String(s.p99Ms),
    s.proxyCpuUsPerReq === null ? '-' : s.proxyCpuUsPerReq.toFixed(0),
    s.ratio === null ? '-' : `${s.ratio.toFixed(2)}x`,
    checked.get(s.scenario)?.text ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/**
 * Prints the report of a run and writes bench/results/latest.json. `run`: { scenarios (runnable, bench/scenarios.mjs),
 * runs (bench/measure.mjs), opts (the run's settings), dir (its temporary directory), argon2, loginLatency, redis,
 * redisVersion, logCounts, started, resultsDir, profileDir }. Returns the file written.
 */
export function report({ scenarios, runs, opts, dir, argon2, loginLatency, redis, redisVersion, logCounts, started, resultsDir, profileDir }) {
  const summary = summarise(scenarios, runs, { dir, argon2, loginLatency });
  const by = Object.fromEntries(summary.map((s) => [s.scenario, s]));
  const raws = scenarios.filter((s) => s.baseline).map((s) => s.name);
  const baseline = raws.length ? raws.reduce((a, b) => (by[a].rps >= by[b].rps ? a : b)) : null;
  // Token-service endpoints forward nothing: a ratio to a pass-through proxy means nothing for them.
  const tokenService = new Set(scenarios.filter((s) => s.tokenService).map((s) => s.name));
  for (const s of summary) s.ratio = baseline && !tokenService.has(s.scenario) ? round(s.rps / by[baseline].rps, 3) : null;
  const { checked, comparisons, broke } = judge(scenarios, by, opts.maxOthers);
  const tokenPool = scenarios.find((s) => s.tokens)?.tokens.pool ?? 0;

  const out = [];
  out.push('');
  out.push(
    `Gatehouse benchmark: median of ${opts.rounds} rounds x ${opts.duration} s, ${CONNECTIONS} connections, pipelining ${PIPELINING}, loopback, node ${process.version}, ${cpus().length} CPUs`,
  );
  out.push('');
  out.push(...table(summary, checked, baseline, broke));
  out.push('');
  if (baseline)
    out.push(
      `ratio = req/s / req/s of the faster raw pass-through (${baseline}); targets are against raw-undici${tokenService.size ? ' (token-service rows: no ratio, absolute targets)' : ''}.`,
    );
  out.push('cpu us/req = CPU time of the proxy process (all threads) per request while measured.');
  if (by['gatehouse-token-cached'] && by['gatehouse-token-cached-log-info']) {
    const cost = 1 - by['gatehouse-token-cached-log-info'].rps / by['gatehouse-token-cached'].rps;
    out.push(`per-request logging at info (to /dev/null) costs ${(cost * 100).toFixed(1)}% of req/s on the cached-token path.`);
  }
  for (const s of summary.filter((x) => x.tokensSent !== undefined && x.launcher)) {
    const c = s.cache;
    // a token reaches this instance twice only once its own counter wraps around the pool
    const once =
      s.tokensSent <= s.tokenPool
        ? 'each token at most once, so every request was a full verification'
        : `the pool wrapped around${s.workers > 1 ? ': with several workers, each keeping its own cache, a token may come back to a worker that still has it' : ''}`;
    out.push(
      `${s.scenario} verifier cache: ${c ? `${c.miss} misses, ${c.hit} hits` : `counters not read (${s.workers} workers: /metrics answers for one of them)`}; ${s.tokensSent} tokens sent from a pool of ${s.tokenPool} (${once}).`,
    );
  }
  // issue #4: the Redis store against the memory store, workers 2 against workers 1
  for (const c of checked.values()) if (c.line) out.push(c.line);
  for (const c of comparisons) out.push(c.line);
  // Workers only help with a spare core: say how many cores the rest of the benchmark took while workers 2 ran.
  for (const s of summary.filter((x) => x.launcher === 'cli' && x.workers > 1)) {
    const m = (k) => median(s.runs.map((x) => x.cpu[k] ?? 0));
    out.push(
      `${s.scenario}: cores used (median) proxy ${m('proxy').toFixed(2)} (primary + ${s.workers} workers), autocannon ${m('autocannon').toFixed(2)}, upstream ${m('upstream').toFixed(2)}, redis ${m('redis').toFixed(2)}, others ${m('others').toFixed(2)} of ${cpus().length} CPUs.`,
    );
  }
  if (by['gatehouse-login']) {
    const p = argon2.params;
    out.push(
      `gatehouse-login: each login verifies an ${p.algorithm} hash, m=${p.memoryKiB} KiB (${(p.memoryKiB / 1024).toFixed(0)} MiB), t=${p.timeCost}, p=${p.parallelism} (stored hash: ${argon2.hashParams}); throttle perUser/perIp ${THROTTLE} (never reached).`,
    );
    if (loginLatency)
      out.push(
        `gatehouse-login, one connection, no other load: median ${loginLatency.medianMs} ms per login over ${loginLatency.n} sequential logins (min ${loginLatency.minMs}, max ${loginLatency.maxMs}).`,
      );
  }
  if (by['gatehouse-refresh']?.refreshChains) {
    const c = by['gatehouse-refresh'].refreshChains;
    const statuses = {};
    for (const x of by['gatehouse-refresh'].runs) for (const [k, v] of Object.entries(x.refresh.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    const first = by['gatehouse-refresh'].runs.find((x) => x.refresh.firstBody)?.refresh.firstBody;
    out.push(
      `gatehouse-refresh: ${c.chains} session chains (${CONNECTIONS} per autocannon run, warm-ups included; ${c.logins} logins), ${c.refreshed} rotations answered 200; chains broken: ${c.broken}, non-200 answers: ${c.non200}${c.non200 ? ` ${JSON.stringify(statuses)}, first: ${first}` : ''}${c.broken ? '  <-- must be 0' : ''}.`,
    );
  }
  const others = summary.flatMap((s) => s.runs.map((x) => x.cpu.others)).filter((x) => x !== undefined && x !== null);
  if (others.length) {
    const worst = Math.max(...others);
    out.push(
      `other processes on this machine used ${median(others).toFixed(2)} cores (median; worst ${worst.toFixed(2)}) during the measurements${worst > opts.maxOthers ? `; some runs stayed above ${opts.maxOthers} even when measured again: NOISY, the ratios are unreliable, rerun on a quiet machine` : ''}.`,
    );
  }
  for (const [what, n] of logCounts) out.push(`logged ${n}x  ${what}`);
  if (summary.some(broke)) out.push('(!) some responses were not 2xx or failed: see bench/results/latest.json; such a row is not a valid result.');
  process.stdout.write(out.join('\n') + '\n');

  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, 'latest.json');
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    flags: {
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      durationSeconds: opts.duration,
      warmupSeconds: opts.warmup,
      rounds: opts.rounds,
      maxOthers: opts.maxOthers,
      tokenPool,
      verifierCacheEntries: opts.cacheEntries,
      loginThrottle: THROTTLE,
      sequentialLogins: opts.sequentialLogins,
      profile: opts.profile,
      quick: opts.quick,
    },
    // the bench's own redis-server for the *-redis scenarios (null when none ran)
    redis: redis ? { version: redisVersion, bind: '127.0.0.1', persistence: 'off (--save "" --appendonly no)' } : null,
    baseline,
    targets: [...checked.values()].map((c) => c.json),
    comparisons: comparisons.map((c) => c.json),
    scenarios: summary,
    gatehouseLogs: Object.fromEntries(logCounts),
    wallSeconds: round((Date.now() - started) / 1000, 1),
  };
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`results: ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  if (opts.profile) process.stdout.write(`CPU profiles: ${profileDir}/<server>.cpuprofile (summarise with node bench/cpuprofile-top.mjs <file>)\n`);
  return file;
}
