// What one node:crypto.verify of a JWT signature costs on this machine, per
// algorithm: the yardstick of bench/peers.mjs's new-token target ("new token
// <= raw undici + 1.5x node:crypto.verify"). A tight synchronous loop over a
// set of real tokens with a KeyObject made once (the signing input and the
// signature are split and decoded before the loop: only the verification is
// timed), CPU time of this process (user + system) per call, after a warm-up.
//
//   node bench/verify-cost.mjs <input.json>
//     input: { seconds, algs: { RS256: { jwk, tokens: [...] }, ES256: { jwk, tokens: [...] } } } (public JWKs)
//     prints: { "RS256": { "usPerCall": 31.2, "calls": 32000, "wallUsPerCall": 31.5 }, ... }
//
// bench/peers.mjs runs it pinned to the core the proxies are pinned to, once per round, while nothing else of the
// bench is loaded.
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const input = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8'));
const seconds = Number(input.seconds ?? 1);
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const out = {};
for (const [alg, { jwk, tokens }] of Object.entries(input.algs)) {
  const key = alg.startsWith('ES')
    ? { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }
    : createPublicKey({ key: jwk, format: 'jwk' });
  const items = tokens.map((t) => {
    const dot = t.lastIndexOf('.');
    return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), 'base64url') };
  });
  const loop = (limitS) => {
    let calls = 0;
    const c0 = cpuNow();
    const t0 = performance.now();
    while (performance.now() - t0 < limitS * 1000) {
      for (let i = 0; i < 50; i++) {
        const it = items[calls++ % items.length];
        if (!verify('sha256', it.data, key, it.sig)) throw new Error(`${alg}: a bench token did not verify`);
      }
    }
    return { calls, cpu: cpuNow() - c0, wall: (performance.now() - t0) / 1000 };
  };
  loop(Math.min(0.3, seconds)); // warm-up
  const { calls, cpu, wall } = loop(seconds);
  out[alg] = { usPerCall: Math.round((cpu * 1e6 * 10) / calls) / 10, calls, wallUsPerCall: Math.round((wall * 1e6 * 10) / calls) / 10 };
}
process.stdout.write(`${JSON.stringify(out)}\n`);
