/**
 * Web sign-in in a real Chromium (SPEC §7, issue "Web sign-in"): HTTPS with a
 * throwaway CA, app.gatehouse.test and evil.test mapped to 127.0.0.1, two
 * Gatehouse instances sharing a real Redis, an upstream web app that records
 * what it receives.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hashed } from '../helpers/issuer.js';
import { makeKey, tempDir, writeJwkFile } from '../helpers/keys.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.js';
import { makeCa } from '../helpers/tls.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { writeFileSync } from 'node:fs';

const APP = 'app.gatehouse.test';
const EVIL = 'evil.test';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

let redis: TestRedis;
let up: TestUpstream;
let A: TestGateway;
let B: TestGateway;
let portA: number;
let portB: number;
let evil: Server;
let evilPort: number;
let browser: Browser;
const contexts: BrowserContext[] = [];

const urlA = (path: string) => `https://${APP}:${portA}${path}`;
const urlB = (path: string) => `https://${APP}:${portB}${path}`;

beforeAll(async () => {
  const ca = makeCa();
  const appCert = ca.issue([APP]);
  const evilCert = ca.issue([EVIL]);
  const dir = tempDir();
  const usersFile = join(dir, 'users.yaml');
  writeFileSync(
    usersFile,
    stringify({
      users: [
        { username: ALICE, password: await hashed('alice-password'), roles: ['admin'], email: ALICE, name: 'Alice' },
        { username: BOB, password: await hashed('bob-password'), roles: ['user'], email: BOB, name: 'Bob' },
      ],
    }),
  );
  const key = writeJwkFile((await makeKey('ES256', 'web-key')).privateJwk, dir);
  [redis, up, portA, portB] = await Promise.all([startRedis(), startUpstream(), freePort(), freePort()]);
  // the web app: echoes what it received, and sets a cookie of its own
  up.handler = (req, res, body) => {
    const json = JSON.stringify({ url: req.url, headers: req.headers, body });
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'app_pref=dark; Path=/; SameSite=Lax' });
    res.end(json);
  };
  // a fleet: both instances serve the same public origin (A's, as a load balancer would present it)
  const config = (port: number) => ({
    server: { listen: `127.0.0.1:${port}`, tls: { cert: appCert.certFile, key: appCert.keyFile }, publicUrl: `https://${APP}:${portA}` },
    issuer: {
      iss: `https://${APP}:${portA}`,
      audience: 'api',
      signingKeys: [{ file: key }],
      users: { file: usersFile },
      claims: ['email', 'name'],
      throttle: { perUser: 3, perIp: 100, window: '1m' },
    },
    sessions: { idleTtl: '10m', absoluteTtl: '1h' },
    revocation: { store: 'redis', redis: { url: redis.url, keyPrefix: `gh-web-${process.pid}:` } },
    identity: { headers: { 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Email': 'email' } },
    routes: [
      { name: 'app', match: { path: '/app/**' }, upstream: up.url, auth: 'required' },
      { name: 'admin', match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } },
      { name: 'api', match: { path: '/api/**' }, upstream: up.url, auth: 'required', login: 'deny' },
    ],
  });
  A = await startGateway(config(portA));
  B = await startGateway(config(portB));
  evil = createServer({ cert: readFileSync(evilCert.certFile), key: readFileSync(evilCert.keyFile) }, (req, res) => {
    const u = new URL(req.url ?? '/', `https://${EVIL}`);
    const target = u.searchParams.get('target') ?? '';
    let html = '';
    if (u.pathname === '/post')
      html = `<form id=f method=post action="${target}"><input name=csrf value=x><input name=x value=1><button id=go>go</button></form>`;
    else if (u.pathname === '/frame') html = `<iframe id=fr src="${target}" width=600 height=400></iframe>`;
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><html><body>${html}</body></html>`);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  evilPort = (evil.address() as AddressInfo).port;
  browser = await launchBrowser({ hosts: [APP, EVIL], trustSpki: [appCert.spki, evilCert.spki].join(',') });
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await Promise.all([A?.stop(), B?.stop()]);
  await new Promise<void>((r) => (evil ? evil.close(() => r()) : r()));
  await up?.close();
  await redis?.stop();
});

async function newPage(): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext();
  contexts.push(ctx);
  return { ctx, page: await ctx.newPage() };
}

async function signIn(page: Page, user: string, password: string): Promise<void> {
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

const bodyJson = async (page: Page) => JSON.parse((await page.textContent('body')) ?? '{}') as { url: string; headers: Record<string, string> };

describe('web sign-in in Chromium', () => {
  it('a navigation to a protected page goes to the sign-in page and, after signing in, lands on the exact page and query with the identity headers a token would give', async () => {
    const { page } = await newPage();
    const first = await page.goto(urlA('/app/reports/q3?year=2026&sort=desc'));
    expect(first?.url()).toMatch(new RegExp(`^https://${APP}:${portA}/auth/sign-in\\?flow=[A-Za-z0-9_-]{22}$`));
    expect(await page.isVisible('input[name=username]')).toBe(true);
    await signIn(page, ALICE, 'alice-password');
    expect(page.url()).toBe(urlA('/app/reports/q3?year=2026&sort=desc'));
    const seen = await bodyJson(page);
    expect(seen.url).toBe('/app/reports/q3?year=2026&sort=desc');
    expect(seen.headers['x-user-id']).toBe(ALICE);
    expect(seen.headers['x-user-roles']).toBe('admin');
    expect(seen.headers['x-user-email']).toBe(ALICE);
    expect(seen.headers.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('the cookie as the browser stores it: __Host- name, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain, under 200 bytes, a new id at every sign-in', async () => {
    const { ctx, page } = await newPage();
    await page.goto(urlA('/app/x'));
    await signIn(page, BOB, 'bob-password');
    const cookies = (await ctx.cookies()).filter((c) => c.name.startsWith('__Host-'));
    expect(cookies).toHaveLength(1);
    const c = cookies[0]!;
    expect(c).toMatchObject({ name: '__Host-gatehouse', domain: APP, path: '/', secure: true, httpOnly: true, sameSite: 'Lax' });
    expect(`${c.name}=${c.value}`.length).toBeLessThan(200);
    const firstValue = c.value;
    await page.goto(urlA('/auth/sign-in'));
    await page.goto(urlA('/auth/sign-out'));
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.goto(urlA('/app/x'));
    await signIn(page, BOB, 'bob-password');
    const again = (await ctx.cookies()).find((x) => x.name === '__Host-gatehouse');
    expect(again?.value).toBeDefined();
    expect(again?.value).not.toBe(firstValue);
  });

  it('two tabs signing in at once, finishing in reverse order, each land on their own page', async () => {
    const { ctx } = await newPage();
    const one = await ctx.newPage();
    const two = await ctx.newPage();
    await one.goto(urlA('/app/one?tab=1'));
    await two.goto(urlA('/app/two?tab=2'));
    await signIn(two, ALICE, 'alice-password');
    await signIn(one, ALICE, 'alice-password');
    expect(two.url()).toBe(urlA('/app/two?tab=2'));
    expect(one.url()).toBe(urlA('/app/one?tab=1'));
    expect((await bodyJson(one)).headers['x-user-id']).toBe(ALICE);
  });

  it("the page's own fetch() without a session gets 401 JSON, never a redirect; with a session it gets through", async () => {
    const { page } = await newPage();
    // fetch() from a page of the app's origin (Gatehouse's own pages allow no fetch at all: default-src 'none')
    await page.goto(urlA('/api/hello'));
    const anon = await page.evaluate(async (u) => {
      const r = await fetch(u, { redirect: 'manual' });
      return { status: r.status, location: r.headers.get('location'), body: await r.text() };
    }, urlA('/app/data'));
    expect(anon.status).toBe(401);
    expect(anon.location).toBeNull();
    expect(JSON.parse(anon.body)).toMatchObject({ error: 'unauthorized' });
    await page.goto(urlA('/app/x'));
    await signIn(page, BOB, 'bob-password');
    const authed = await page.evaluate(async (u) => (await fetch(u)).status, urlA('/app/data'));
    expect(authed).toBe(200);
  });

  it('a cross-site form POST to a protected route and to sign-out is refused and changes nothing; the upstream is not called', async () => {
    const { page } = await newPage();
    await page.goto(urlA('/app/x'));
    await signIn(page, BOB, 'bob-password');
    const before = up.seen.length;
    await page.goto(`https://${EVIL}:${evilPort}/post?target=${encodeURIComponent(urlA('/app/transfer'))}`);
    const post = await Promise.all([page.waitForNavigation(), page.click('#go')]);
    expect(post[0]?.status()).toBe(401);
    expect(up.seen.length).toBe(before);
    await page.goto(`https://${EVIL}:${evilPort}/post?target=${encodeURIComponent(urlA('/auth/sign-out'))}`);
    const out = await Promise.all([page.waitForNavigation(), page.click('#go')]);
    expect(out[0]?.status()).toBe(403);
    // still signed in
    await page.goto(urlA('/app/still'));
    expect((await bodyJson(page)).headers['x-user-id']).toBe(BOB);
  });

  it('the sign-in page cannot be framed by another site', async () => {
    const { page } = await newPage();
    const res = await page.goto(urlA('/auth/sign-in'));
    expect(res?.headers()['x-frame-options']).toBe('DENY');
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await page.goto(`https://${EVIL}:${evilPort}/frame?target=${encodeURIComponent(urlA('/auth/sign-in'))}`);
    await page.waitForTimeout(500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    const framedForm = frame ? await frame.$('input[name=password]').catch(() => null) : null;
    expect(framedForm).toBeNull();
  });

  it('hostile return targets never leave the origin: the flow keeps only the path Gatehouse saw', async () => {
    for (const target of ['/app//evil.test/x', '/app/%2F%2Fevil.test', '/app/..%2F..%2Fevil']) {
      const { page } = await newPage();
      const r = await page.goto(urlA(target));
      if (r && r.url().includes('/auth/sign-in')) {
        await signIn(page, BOB, 'bob-password');
        expect(new URL(page.url()).host, target).toBe(`${APP}:${portA}`);
      } else {
        expect(r?.status(), target).toBe(400);
      }
    }
    // a flow id is all the sign-in page accepts: no return URL parameter exists to abuse
    const { page } = await newPage();
    await page.goto(urlA(`/auth/sign-in?return=https://${EVIL}/&next=//${EVIL}&flow=../../x`));
    await signIn(page, BOB, 'bob-password');
    expect(new URL(page.url()).host).toBe(`${APP}:${portA}`);
  });

  it('a wrong password gets one generic message (status 401), then throttling (429 with Retry-After) — the same for an unknown user', async () => {
    const { page } = await newPage();
    await page.goto(urlA('/app/x'));
    const statuses: number[] = [];
    page.on('response', (r) => {
      if (r.url().endsWith('/auth/sign-in') && r.request().method() === 'POST') statuses.push(r.status());
    });
    for (let i = 0; i < 3; i++) await signIn(page, ALICE, `wrong-${i}`);
    const message = await page.textContent('body');
    expect(message).toContain('The username or password is incorrect');
    await signIn(page, ALICE, 'alice-password');
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(await page.textContent('body')).toMatch(/Too many attempts/);
    const { page: p2 } = await newPage();
    await p2.goto(urlA('/app/x'));
    await signIn(p2, 'nobody@example.com', 'whatever');
    expect(await p2.textContent('body')).toContain('The username or password is incorrect');
  });

  it("the upstream never sees Gatehouse's cookie, and keeps the app's own cookies", async () => {
    const { page } = await newPage();
    await page.goto(urlA('/app/set'));
    await signIn(page, BOB, 'bob-password');
    await page.goto(urlA('/app/read'));
    const seen = await bodyJson(page);
    expect(seen.headers.cookie).toBe('app_pref=dark');
    expect(JSON.stringify(seen.headers)).not.toContain('__Host-gatehouse');
  });

  it('a signed-in navigation to a page that needs a role the user lacks gets a 403 page; an API call gets the 403 JSON', async () => {
    const { page } = await newPage();
    await page.goto(urlA('/app/x'));
    await signIn(page, BOB, 'bob-password');
    const r = await page.goto(urlA('/admin/panel'));
    expect(r?.status()).toBe(403);
    expect(r?.headers()['content-type']).toContain('text/html');
    expect(await page.textContent('h1')).toMatch(/access/i);
    await page.goto(urlA('/app/x'));
    const json = await page.evaluate(async (u) => {
      const res = await fetch(u);
      return { status: res.status, type: res.headers.get('content-type') };
    }, urlA('/admin/panel'));
    expect(json).toEqual({ status: 403, type: 'application/json' });
  });

  it('signing out on one instance ends the session on the other within 1 s (Redis); so does POST /admin/revoke {"sub"}', async () => {
    // sign in on A; the session works on B too (the store is shared)
    const { ctx, page } = await newPage();
    await page.goto(urlA('/app/x'));
    await signIn(page, BOB, 'bob-password');
    await page.goto(urlB('/app/on-b'));
    expect((await bodyJson(page)).headers['x-user-id']).toBe(BOB);
    const stolen = (await ctx.cookies()).find((c) => c.name === '__Host-gatehouse')!;
    // a second browser holding the same cookie (as a stolen cookie would be), asking B
    const { ctx: other, page: thief } = await newPage();
    await other.addCookies([{ ...stolen }]);
    await thief.goto(urlB('/app/thief'));
    const onA = () => thief.evaluate(async (u) => (await fetch(u, { redirect: 'manual' })).status, urlB('/api/me'));
    expect(await onA()).toBe(200);
    // sign out on A; B follows
    await page.goto(urlA('/auth/sign-out'));
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const since = Date.now();
    expect((await ctx.cookies()).find((c) => c.name === '__Host-gatehouse')).toBeUndefined();
    let status = 200;
    while (status === 200 && Date.now() - since < 2000) status = await onA();
    expect(status).toBe(401);
    expect(Date.now() - since).toBeLessThan(1000);

    // admin revocation of the subject, on B's admin listener, ends a session held on A
    const { page: again } = await newPage();
    await again.goto(urlA('/app/x'));
    await signIn(again, BOB, 'bob-password');
    const viaA = () => again.evaluate(async (u) => (await fetch(u, { redirect: 'manual' })).status, urlA('/api/me'));
    expect(await viaA()).toBe(200);
    const r = await fetch(`${B.adminUrl}/admin/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: BOB }),
    });
    expect(r.status).toBe(204);
    const revokedAt = Date.now();
    status = 200;
    while (status === 200 && Date.now() - revokedAt < 2000) status = await viaA();
    expect(status).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    // and a navigation is sent to sign in again
    const nav = await again.goto(urlA('/app/after'));
    expect(nav?.url()).toContain('/auth/sign-in?flow=');
  });
});
