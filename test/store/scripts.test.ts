/**
 * The Redis store's Lua scripts (ROTATE, UNROTATE, CUTOFF, HIT) are
 * registered once per client with ioredis `defineCommand`, so a call sends
 * EVALSHA and the script source crosses the wire only on a script's first use
 * on a connection, never with every call. Checked two ways on a real
 * redis-server that only this store talks to: the server's own counters
 * (INFO commandstats) and the commands as Redis received them (MONITOR).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/log.js';
import { RedisStore } from '../../src/store/redis/store.js';
import { LogCapture } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { pollUntil, rawRedis } from './support.js';

const PREFIX = `gh-scripts-${process.pid}:`;

let redis: TestRedis;
let raw: Redis;
let store: RedisStore;

/** calls per command name from INFO commandstats (e.g. { eval: 4, evalsha: 396 }) */
async function commandCalls(r: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1] as string] = Number(m[2]);
  return calls;
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** An argument as MONITOR prints it (C-style escapes, see sdscatrepr) back to the bytes the client sent. */
function unescapeMonitor(text: string): string {
  const named: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '\\': '\\', '"': '"' };
  return text.replace(/\\(x[0-9a-f]{2}|.)/g, (_m, c: string) => (c.length === 3 ? String.fromCharCode(parseInt(c.slice(1), 16)) : (named[c] ?? c)));
}

beforeAll(async () => {
  redis = await startRedis();
  raw = rawRedis(redis.url);
  // commandTimeout well above any stall a loaded test machine has: a spurious timeout would change what is sent
  const config = { url: redis.url, cluster: null, sentinels: null, sentinelName: null, keyPrefix: PREFIX, commandTimeoutMs: 5000 };
  // reconcile only at start: its MULTI would otherwise run into the CLIENT PAUSE below
  store = new RedisStore({ config, logger: createLogger('info', new LogCapture()), subjectTtlSeconds: 3600, reconcileEveryMs: 600_000 });
  await store.start(10_000);
  expect(store.state()).toEqual({ ok: true });
});

afterAll(async () => {
  await raw?.call('CLIENT', 'UNPAUSE').catch(() => {});
  await store?.close();
  raw?.disconnect();
  await redis?.stop();
});

describe('Lua scripts are registered once (defineCommand)', () => {
  it('after 400+ rotate/hit/cut-off calls Redis saw each script source once (EVAL) and EVALSHA for every other call', async () => {
    const monitor = await raw.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    try {
      await raw.config('RESETSTAT');
      const exp = Math.floor(Date.now() / 1000) + 3600;
      let scriptCalls = 0;

      // HIT: 200 counter hits over 20 keys
      for (let i = 0; i < 200; i++) {
        const c = await store.hit(`k${i % 20}`, 60);
        expect(c.count).toBe(Math.floor(i / 20) + 1);
        scriptCalls++;
      }
      // ROTATE: one family rotated 150 times, then a replay of an old token (reuse), then the revoked family, then an unknown one
      const sid = crypto.randomUUID();
      let cur = crypto.randomUUID();
      await store.createFamily(sid, 'script-user', cur, exp);
      const first = cur;
      for (let i = 0; i < 150; i++) {
        const next = crypto.randomUUID();
        expect(await store.rotateFamily(sid, cur, next, exp)).toBe('rotated');
        cur = next;
        scriptCalls++;
      }
      expect(await store.rotateFamily(sid, first, crypto.randomUUID(), exp)).toBe('reused');
      expect(await store.rotateFamily(sid, cur, crypto.randomUUID(), exp)).toBe('revoked');
      expect(await store.rotateFamily(crypto.randomUUID(), cur, crypto.randomUUID(), exp)).toBe('unknown');
      scriptCalls += 3;
      // CUTOFF: 50 subject cut-offs
      for (let i = 0; i < 50; i++) {
        await store.revokeSubject(`script-sub-${i % 5}`, Math.floor(Date.now() / 1000) + i, 3600);
        scriptCalls++;
      }
      // UNROTATE runs only after a rotation times out: pause writes (scripts included) until the rotation has given up
      const sid2 = crypto.randomUUID();
      const jti2 = crypto.randomUUID();
      await store.createFamily(sid2, 'script-user', jti2, exp);
      await raw.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      await expect(store.rotateFamily(sid2, jti2, crypto.randomUUID(), exp)).rejects.toThrow(/timed? ?out/i);
      scriptCalls += 2; // the ROTATE that timed out and the UNROTATE it sent
      await raw.call('CLIENT', 'UNPAUSE');
      // the rotation ran late and was undone: the presented token is still the current one
      expect(await store.rotateFamily(sid2, jti2, crypto.randomUUID(), exp)).toBe('rotated');
      scriptCalls++;

      // Everything above was answered; MONITOR shows commands in execution order, so once this marker is seen, so was everything before it.
      const marker = `scripts-test-done-${crypto.randomUUID()}`;
      await raw.echo(marker);
      await pollUntil(async () => seen.some((a) => a.includes(marker)), Boolean, { withinMs: 15_000, everyMs: 50, what: 'MONITOR catching up' });

      // What Redis counted.
      const calls = await commandCalls(raw);
      expect(scriptCalls).toBeGreaterThan(400);
      expect({ eval: calls.eval ?? 0, evalsha: calls.evalsha ?? 0 }).toEqual({ eval: 4, evalsha: scriptCalls - 4 });

      // What Redis received: the four script sources once each, then only their SHA1s.
      const evals = seen.map((a, i) => ({ a, i })).filter(({ a }) => a[0]?.toLowerCase() === 'eval');
      const evalshas = seen.map((a, i) => ({ a, i })).filter(({ a }) => a[0]?.toLowerCase() === 'evalsha');
      expect(evals).toHaveLength(4);
      expect(evalshas).toHaveLength(scriptCalls - 4);
      const shaOfEval = evals.map(({ a, i }) => ({ sha: sha1(unescapeMonitor(a[1] as string)), i }));
      const shas = new Set(evalshas.map(({ a }) => a[1] as string));
      // four different sources, all cached by Redis; every EVALSHA names one of them (UNROTATE ran once, so only as EVAL)
      const evalShas = shaOfEval.map((e) => e.sha);
      expect(new Set(evalShas).size).toBe(4);
      expect(await raw.script('EXISTS', ...evalShas)).toEqual([1, 1, 1, 1]);
      expect([...shas].filter((sha) => !evalShas.includes(sha))).toEqual([]);
      expect(shas.size).toBe(3);
      // each source went out on the script's first use, before any EVALSHA of it, and never again
      for (const { sha, i } of shaOfEval) expect(evalshas.filter(({ a }) => a[1] === sha).every((e) => e.i > i)).toBe(true);
    } finally {
      monitor.disconnect();
    }
  });
});
