// Summarises a V8 .cpuprofile (from BENCH_PROFILE=1 npm run bench, which runs
// the Gatehouse children with --cpu-prof) into the places where the time goes:
//
//   node bench/cpuprofile-top.mjs bench/results/profiles/CPU.<...>.cpuprofile [N]
//
// Prints, as shares of busy (non-idle) time, self time by area (Gatehouse's dist/ files, each dependency, node
// internals, GC), the top N functions by self time, and the top N Gatehouse
// (dist/) functions by inclusive time, i.e. with everything they call.
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/cpuprofile-top.mjs <file.cpuprofile> [N]\n');
  process.exit(2);
}
const TOP = Number(topArg ?? 25);
// `| head` closes the pipe early: stop quietly instead of printing a stack trace
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));

// Self time per node from the samples and their time deltas (microseconds).
const self = new Map();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const sampled = [...self.values()].reduce((a, b) => a + b, 0);
// Percentages are of busy time: the children idle between scenarios.
const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((a, n) => a + (self.get(n.id) ?? 0), 0);
const total = sampled - idle;
for (const n of profile.nodes) if (n.callFrame.functionName === '(idle)') self.delete(n.id);

const shortUrl = (url) => {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const d = url.indexOf('/dist/');
  if (d >= 0) return url.slice(d + 1);
  const b = url.indexOf('/bench/');
  if (b >= 0) return url.slice(b + 1);
  return url;
};
const area = (cf) => {
  const url = cf.url ?? '';
  if (!url) return cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/')) return 'gatehouse dist/';
  return shortUrl(url);
};
const key = (cf) => `${cf.functionName || '(anonymous)'}  ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;

const pct = (us) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
const print = (title, map, n) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`  ${pct(us)}  ${k}\n`);
};

const byArea = new Map();
const bySelf = new Map();
for (const [id, us] of self) {
  const cf = nodes.get(id).callFrame;
  byArea.set(area(cf), (byArea.get(area(cf)) ?? 0) + us);
  bySelf.set(key(cf), (bySelf.get(key(cf)) ?? 0) + us);
}

// Inclusive time per Gatehouse function, counting a function once per stack.
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map();
for (const [id, us] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = nodes.get(cur).callFrame;
    if (!(cf.url ?? '').includes('/dist/')) continue;
    const k = key(cf);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}

process.stdout.write(`${file}: ${(sampled / 1e6).toFixed(1)} s sampled, ${(total / 1e6).toFixed(1)} s busy; percentages are of busy time\n`);
print('self time by area', byArea, TOP);
print(`top ${TOP} functions by self time`, bySelf, TOP);
print(`top ${TOP} Gatehouse (dist/) functions by inclusive time`, inclusive, TOP);
