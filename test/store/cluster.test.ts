/**
 * The Redis store on a real 3-node Redis Cluster (issue #4, SPEC §2
 * `revocation.redis.cluster`): login, refresh, revocation across two
 * instances within 1 s, and refresh reuse detection. Every key carries the
 * `{gh}` hash tag, so the Lua scripts' multi-key steps stay in one slot, and
 * the scripts are registered once on the Cluster client (EVALSHA per call).
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis/store.js';
import type { TestGateway } from '../helpers/gateway.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { claimsOf, expectError, expectTokens, login, postJson, refresh, request } from '../tokens-service/support.js';
import { adminRevoke, callApi, expectRejectedWithin1s, gatewayRaw, issuerFiles, pollUntil, startReady, type IssuerFiles } from './support.js';

const run = promisify(execFile);
const PREFIX = `gh-cluster-${process.pid}:`;
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const PW: Record<string, string> = { [ALICE]: 'alice-pw', [BOB]: 'bob-pw' };

let nodes: TestRedis[] = [];
let files: IssuerFiles;
let upA: TestUpstream;
let upB: TestUpstream;
let A: TestGateway;
let B: TestGateway;

async function portIsFree(port: number): Promise<boolean> {
  const s = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((r) => s.close(() => r()));
  return ok;
}

/** A free port whose cluster bus port (port + 10000) is free and valid too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10000 <= 65535 && !taken.has(p) && !taken.has(p + 10000) && (await portIsFree(p + 10000))) {
      taken.add(p);
      taken.add(p + 10000);
      return p;
    }
  }
}

const cli = (port: number, ...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });

beforeAll(async () => {
  [files, upA, upB] = await Promise.all([issuerFiles(PW), startUpstream(), startUpstream()]);
  const taken = new Set<number>();
  const ports = [await clusterPort(taken), await clusterPort(taken), await clusterPort(taken)];
  nodes = await Promise.all(
    ports.map((p) => startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--cluster-node-timeout', '10000'], p)),
  );
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
  for (const p of ports) {
    await pollUntil(
      async () => (await cli(p, 'CLUSTER', 'INFO')).stdout,
      (info) => info.includes('cluster_state:ok'),
      { withinMs: 30_000, everyMs: 100, what: `cluster_state:ok on ${p}` },
    );
  }
  // commandTimeout: nothing here tests timeouts, and a short one fires spuriously when a loaded machine stalls the event loop
  const redis = { cluster: ports.map((p) => `127.0.0.1:${p}`), keyPrefix: PREFIX, commandTimeout: '5s' };
  [A, B] = await Promise.all([startReady(gatewayRaw({ files, upstream: upA.url, redis })), startReady(gatewayRaw({ files, upstream: upB.url, redis }))]);
}, 180_000);

afterAll(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all([upA?.close(), upB?.close()]);
  files?.cleanup();
});

describe('two instances on a 3-node Redis Cluster', () => {
  it('both are ready and the store says so', async () => {
    for (const g of [A, B]) {
      expect(g.gw.store.kind).toBe('redis');
      expect(g.gw.store.state()).toEqual({ ok: true });
      expect((await request(g.adminUrl, '/readyz')).status).toBe(200);
    }
  });

  it('login on A, refresh on B, revoke on B: A rejects within 1 s', async () => {
    const first = await login(A.url, ALICE, PW[ALICE] as string);
    const second = expectTokens(await refresh(B.url, first.refresh_token));
    expect(claimsOf(second.access_token).sid).toBe(claimsOf(first.access_token).sid);
    for (const [g, up] of [
      [A, upA],
      [B, upB],
    ] as const) {
      const { reply, reached } = await callApi(g, up, second.access_token);
      expect(reply.status, reply.text).toBe(200);
      expect(reached).toBe(true);
    }
    expect((await adminRevoke(B, { token: second.access_token })).status).toBe(204);
    await expectRejectedWithin1s(A, upA, second.access_token, performance.now());
    expectError(await refresh(A.url, second.refresh_token), 401, 'invalid_grant');
  });

  it('logout on A: B rejects within 1 s', async () => {
    const t = await login(B.url, BOB, PW[BOB] as string);
    expect((await callApi(B, upB, t.access_token)).reply.status).toBe(200);
    const r = await postJson(A.url, '/auth/logout', {}, { authorization: `Bearer ${t.access_token}` });
    expect(r.status, r.text).toBe(204);
    await expectRejectedWithin1s(B, upB, t.access_token, performance.now());
  });

  it('refresh reuse across instances revokes the whole family (RFC 9700 §4.14.2)', async () => {
    const t1 = await login(A.url, ALICE, PW[ALICE] as string);
    const t2 = expectTokens(await refresh(A.url, t1.refresh_token));
    expect((await callApi(B, upB, t2.access_token)).reply.status).toBe(200);
    expectError(await refresh(B.url, t1.refresh_token), 401, 'invalid_grant'); // replay of the used token
    const since = performance.now();
    await expectRejectedWithin1s(A, upA, t2.access_token, since);
    await expectRejectedWithin1s(B, upB, t2.access_token, since);
    expectError(await refresh(A.url, t2.refresh_token), 401, 'invalid_grant');
  });

  it('parallel refreshes of one token over both instances: exactly one succeeds', async () => {
    const t = await login(A.url, BOB, PW[BOB] as string);
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => refresh(i % 2 === 0 ? A.url : B.url, t.refresh_token)));
    expect(replies.filter((r) => r.status === 200).length).toBe(1);
    for (const r of replies) if (r.status !== 200) expectError(r, 401, 'invalid_grant');
  });
  it('the scripts go out as EVALSHA on the cluster too, all on the one node that owns the {gh} slot', async () => {
    expect(A.gw.store).toBeInstanceOf(RedisStore);
    const store = A.gw.store as RedisStore;
    await Promise.all(nodes.map((n) => cli(n.port, 'CONFIG', 'RESETSTAT')));
    for (let i = 0; i < 30; i++) expect((await store.hit('cluster-scripts', 60)).count).toBe(i + 1);
    const sid = crypto.randomUUID();
    let cur = crypto.randomUUID();
    await store.createFamily(sid, 'cluster-scripts', cur, Math.floor(Date.now() / 1000) + 600);
    for (let i = 0; i < 20; i++) {
      const next = crypto.randomUUID();
      expect(await store.rotateFamily(sid, cur, next, Math.floor(Date.now() / 1000) + 600)).toBe('rotated');
      cur = next;
    }
    const perNode = await Promise.all(
      nodes.map(async (n) => {
        const text = (await cli(n.port, 'INFO', 'commandstats')).stdout;
        const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(text)?.[1] ?? 0);
        return { eval: calls('eval'), evalsha: calls('evalsha') };
      }),
    );
    const used = perNode.filter((c) => c.eval + c.evalsha > 0);
    expect(used, JSON.stringify(perNode)).toHaveLength(1);
    const [{ eval: evals, evalsha }] = used as [{ eval: number; evalsha: number }];
    expect(evals + evalsha).toBe(50);
    // at most the first use of HIT and of ROTATE on this connection carries the source
    expect(evals).toBeLessThanOrEqual(2);
  });
});
