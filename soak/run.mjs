// npm run soak  (builds dist/ first)
//   SOAK_SECONDS=120  run length (default 120)
//   SOAK_RPS=200      request rate cap, SOAK_CONCURRENCY=32 in-flight cap
//   SOAK_OUT=path     where the JSON goes (default soak/results/latest.json)
// Exit 0 when every target is met, 1 when one is missed, 2 when the soak could not run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable, killAllNow, runSoak } from './soak.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const num = (name, fallback, min) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    console.error(`${name} must be a number >= ${min} (got ${JSON.stringify(v)})`);
    process.exit(2);
  }
  return n;
};
const seconds = num('SOAK_SECONDS', 120, 10);
const out = process.env.SOAK_OUT ?? join(HERE, 'results', 'latest.json');

// Ctrl-C / SIGTERM: stop every process the soak started, then leave.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`soak: ${sig}, stopping everything`);
    killAllNow();
    process.exit(130);
  });
}
process.on('exit', () => killAllNow());

try {
  const result = await runSoak({
    seconds,
    rps: num('SOAK_RPS', 200, 1),
    concurrency: num('SOAK_CONCURRENCY', 32, 1),
    log: (s) => console.error(`soak: ${s}`),
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(formatTable(result));
  console.log(`  written to ${out}`);
  process.exit(result.passed ? 0 : 1);
} catch (err) {
  console.error(`soak: could not run: ${err.stack ?? err}`);
  process.exit(2);
}
