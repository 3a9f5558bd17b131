/**
 * Browser sessions without a browser (SPEC §7): idle and absolute lifetimes
 * with short real TTLs, no Redis round trip per request once an instance has
 * seen a session, and HTTPS certificates re-read on SIGHUP without dropping
 * open connections.
 */
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { request as httpsRequest, Agent } from 'node:https';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hashed } from '../helpers/issuer.js';
import { makeKey, tempDir, writeJwkFile } from '../helpers/keys.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { makeCa } from '../helpers/tls.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const USER = 'carol@example.com';
let up: TestUpstream;
let redis: TestRedis;
let dir: string;
let usersFile: string;
let keyFile: string;
const running: TestGateway[] = [];

beforeAll(async () => {
  dir = tempDir();
  usersFile = join(dir, 'users.yaml');
  writeFileSync(usersFile, stringify({ users: [{ username: USER, password: await hashed('carol-password'), roles: ['user'] }] }));
  keyFile = writeJwkFile((await makeKey('ES256')).privateJwk, dir);
  [up, redis] = await Promise.all([startUpstream(), startRedis()]);
});
afterAll(async () => {
  await Promise.all(running.map((g) => g.stop()));
  await up?.close();
  await redis?.stop();
});

async function gateway(sessions: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestGateway & { origin: string }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const g = await startGateway({
    server: { listen: `127.0.0.1:${port}`, publicUrl: origin },
    issuer: { signingKeys: [{ file: keyFile }], users: { file: usersFile } },
    sessions,
    routes: [{ name: 'app', match: { path: '/app/**' }, upstream: up.url }],
    ...extra,
  });
  running.push(g);
  return Object.assign(g, { origin });
}

/** Signs in through the form as a browser would (fetch metadata included); returns the cookie pair. */
async function signIn(g: { url: string; origin: string }): Promise<string> {
  const page = await fetch(`${g.url}/auth/sign-in`);
  const html = await page.text();
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  const r = await fetch(`${g.url}/auth/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: g.origin, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ username: USER, password: 'carol-password', csrf: field('csrf'), flow: field('flow') }).toString(),
  });
  expect(r.status).toBe(303);
  const cookie = r.headers.get('set-cookie') ?? '';
  expect(cookie).toMatch(/^gatehouse=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
  return cookie.split(';')[0] as string;
}

const call = (g: { url: string }, cookie: string) => fetch(`${g.url}/app/x`, { headers: { cookie }, redirect: 'manual' }).then((r) => r.status);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('session lifetimes', () => {
  it('idle: activity keeps a session alive; idleTtl without a request ends it', async () => {
    const g = await gateway({ idleTtl: '2s', absoluteTtl: '1h' });
    const cookie = await signIn(g);
    for (let i = 0; i < 4; i++) {
      expect(await call(g, cookie)).toBe(200);
      await sleep(700);
    }
    await sleep(2300);
    expect(await call(g, cookie)).toBe(401);
  });

  it('absolute: a session ends at absoluteTtl however active it is', async () => {
    const g = await gateway({ idleTtl: '2s', absoluteTtl: '3s' });
    const cookie = await signIn(g);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 6000) {
      status = await call(g, cookie);
      await sleep(250);
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
  });

  it('a session read adds no Redis round trip: 50 requests on a seen session send Redis no GET', async () => {
    const g = await gateway(
      { idleTtl: '10m', absoluteTtl: '1h' },
      { revocation: { store: 'redis', redis: { url: redis.url, keyPrefix: `gh-sess-${process.pid}:` } } },
    );
    const cookie = await signIn(g);
    expect(await call(g, cookie)).toBe(200);
    const r = new Redis(redis.url);
    const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? 0);
    const before = await gets();
    for (let i = 0; i < 50; i++) expect(await call(g, cookie)).toBe(200);
    expect(await gets()).toBe(before);
    r.disconnect();
  });
});

describe('server.tls', () => {
  it('serves HTTPS; SIGHUP re-reads the certificate files: new connections get the new certificate, an open connection keeps working', async () => {
    const ca = makeCa();
    const first = ca.issue(['localhost'], 'first');
    const second = ca.issue(['localhost'], 'second');
    const cert = join(dir, 'tls.pem');
    const key = join(dir, 'tls.key');
    copyFileSync(first.certFile, cert);
    copyFileSync(first.keyFile, key);
    const port = await freePort();
    const raw = {
      server: { listen: `127.0.0.1:${port}`, tls: { cert, key } },
      routes: [{ name: 'app', match: { path: '/**' }, upstream: up.url, auth: 'public' }],
    };
    const g = await startGateway(raw);
    running.push(g);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.pem });
    const get = (agent: Agent) =>
      new Promise<{ status: number; fingerprint: string; socketId: unknown }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port, path: '/x', agent }, (res) => {
          const sock = res.socket as import('node:tls').TLSSocket;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint: sock.getPeerCertificate().fingerprint256, socketId: sock }));
        });
        req.on('error', reject);
        req.end();
      });
    const a = await get(keepAlive);
    expect(a.status).toBe(200);
    const fp1 = a.fingerprint;
    copyFileSync(second.certFile, cert);
    copyFileSync(second.keyFile, key);
    const { configFrom } = await import('../helpers/gateway.js');
    expect(await g.gw.reload(configFrom({ ...raw, server: { ...raw.server }, admin: { listen: '127.0.0.1:0' } }))).toBe(true);
    // the kept-alive connection is still the old one, and still answers
    const b = await get(keepAlive);
    expect(b.status).toBe(200);
    expect(b.socketId).toBe(a.socketId);
    expect(b.fingerprint).toBe(fp1);
    // a new connection gets the new certificate
    const fresh = await get(new Agent({ keepAlive: false, ca: ca.pem }));
    expect(fresh.status).toBe(200);
    expect(fresh.fingerprint).not.toBe(fp1);
    expect(readFileSync(cert, 'utf8')).toBe(readFileSync(second.certFile, 'utf8'));
    keepAlive.destroy();
  });
});
