/**
 * Redis unreachable at start (issue "what an operator trips over", item 4):
 * the gateway starts, says once per attempt-gap which address it cannot reach
 * and why (never an ioredis internal), /readyz names the same, protected
 * routes fail closed without reaching the upstream, and once a real
 * redis-server appears on that port the gateway becomes ready by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { accessToken, gatewayRaw, issuerFiles, pollUntil, waitReady, type IssuerFiles } from './support.js';

let files: IssuerFiles;
let up: TestUpstream;
let port: number;
let g: TestGateway | null = null;
let redis: TestRedis | null = null;

/** the lines naming the unreachable Redis */
const unreachableLines = () => (g?.logs.lines ?? []).filter((l) => typeof l.msg === 'string' && l.msg.includes('Redis unreachable'));

beforeAll(async () => {
  [files, up, port] = await Promise.all([issuerFiles({ 'u@example.com': 'pw' }), startUpstream(), freePort()]);
  // a password in the URL: it must never appear in a log line or /readyz
  g = await startGateway(gatewayRaw({ files, upstream: up.url, redis: { url: `redis://:s3cret-pw@127.0.0.1:${port}` } }));
});

afterAll(async () => {
  await g?.stop();
  await redis?.stop();
  await up?.close();
});

describe('Redis unreachable at start', () => {
  it('logs one line naming the address (password redacted) and the cause', async () => {
    await pollUntil(
      async () => unreachableLines(),
      (lines) => lines.length > 0,
      { withinMs: 30_000, everyMs: 50, what: 'a "Redis unreachable" log line' },
    );
    const first = unreachableLines()[0] as Record<string, unknown>;
    expect(first.level).toBe(50); // error
    expect(first.msg).toBe(
      `revocation store: Redis unreachable at redis://:***@127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}); retrying, next report in 2 s`,
    );
    expect(first.redis).toBe(`redis://:***@127.0.0.1:${port}`);
    expect(g?.logs.text()).not.toContain('s3cret-pw');
    expect(g?.logs.text()).not.toMatch(/writeable|enableOfflineQueue|max retries per request/i);
  });

  it('/readyz is 503 and names the address and the cause', async () => {
    const r = await request(g?.adminUrl ?? '', '/readyz');
    expect(r.status).toBe(503);
    const body = JSON.parse(r.text) as { status: string; reasons: string[] };
    expect(body.status).toBe('not_ready');
    expect(body.reasons).toContain(`revocation store: Redis unreachable at redis://:***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(r.text).not.toContain('s3cret-pw');
  });

  it('a protected route fails closed (503) and the upstream is not called', async () => {
    const before = up.seen.length;
    const token = await accessToken(files, 'u@example.com');
    const r = await request(g?.url ?? '', '/api/orders', { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(up.seen.length).toBe(before);
  });

  it('repeats the line with growing gaps, not on every reconnect attempt', async () => {
    // ioredis retries every 2 s at most; in 6+ s of outage there are at least 3 attempts but at most 3 reports (0, 2, 6 s)
    const since = Date.now();
    await pollUntil(
      async () => unreachableLines(),
      (lines) => lines.length >= 2,
      { withinMs: 30_000, everyMs: 100, what: 'a second "Redis unreachable" line' },
    );
    const lines = unreachableLines();
    expect(String(lines[1]?.msg)).toMatch(/down \d+ s, retrying, next report in 4 s$/);
    const elapsedS = (Date.now() - since) / 1000 + 30;
    expect(lines.length).toBeLessThanOrEqual(2 + Math.log2(elapsedS));
  });

  it('becomes ready by itself once Redis listens on that port, and says so', async () => {
    redis = await startRedis(['--requirepass', 's3cret-pw'], port);
    await waitReady(g as TestGateway);
    expect(g?.logs.lines.some((l) => l.msg === `revocation store: Redis in sync (redis://:***@127.0.0.1:${port})`)).toBe(true);
    const token = await accessToken(files, 'u@example.com');
    const r = await request(g?.url ?? '', '/api/orders', { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
  });
});
