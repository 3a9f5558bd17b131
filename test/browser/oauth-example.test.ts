/**
 * README's client example (examples/oidc-web-app.mjs) runs as printed: a
 * real Chromium opens the example app, signs in on Gatehouse's page,
 * consents, lands back signed in with the user's name from userinfo,
 * refreshes, and signs out through Gatehouse's end-session endpoint. The app
 * is the file in the repository, started as its own process, once as a
 * public client and once as a confidential one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { ALICE, ALICE_PASSWORD, SECRET, startProvider, type Provider } from '../helpers/oauth.js';
import { freePort } from '../helpers/redis.js';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let browser: Browser;
let p: Provider;
let appPort: number;
const apps: ChildProcess[] = [];

beforeAll(async () => {
  appPort = await freePort();
  const postLogout = [`http://127.0.0.1:${appPort}/`];
  p = await startProvider({
    clients: [
      {
        id: 'demo-app',
        name: 'Demo Orders App',
        redirectUris: ['http://127.0.0.1/callback'],
        postLogoutRedirectUris: postLogout,
        scopes: ['openid', 'profile', 'email', 'orders:read'],
      },
      {
        id: 'orders-web',
        name: 'Orders Web',
        secret: SECRET,
        redirectUris: ['http://127.0.0.1/callback'],
        postLogoutRedirectUris: postLogout,
        consent: false,
        scopes: ['openid', 'profile', 'email', 'orders:read'],
      },
    ],
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  for (const a of apps) a.kill();
  await browser?.close();
  await p?.stop();
});

async function startApp(env: Record<string, string>): Promise<ChildProcess> {
  const app = spawn(process.execPath, [join(ROOT, 'examples/oidc-web-app.mjs')], {
    env: { ...process.env, ISSUER: p.origin, PORT: String(appPort), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  apps.push(app);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    app.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('example app on')) resolve();
    });
    app.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    app.once('exit', (code) => reject(new Error(`example app exited ${code}: ${out}`)));
  });
  return app;
}

async function stopApp(app: ChildProcess): Promise<void> {
  const exited = new Promise((r) => app.once('exit', r));
  app.kill();
  await exited;
}

// a child process and several browser round trips per test: generous for a loaded 2-core machine
describe('examples/oidc-web-app.mjs against Gatehouse', { timeout: 60_000 }, () => {
  it.each([
    ['a public client (PKCE only), with the consent page', { CLIENT_ID: 'demo-app' }, true],
    ['a confidential client (client_secret_basic), first-party', { CLIENT_ID: 'orders-web', CLIENT_SECRET: SECRET }, false],
  ])('%s: sign in, see the user, refresh, sign out', async (_what, env, consent) => {
    const app = await startApp(env);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    if (process.env.DEBUG_EXAMPLE) page.on('framenavigated', (f) => f === page.mainFrame() && console.log('nav', f.url()));
    try {
      await page.goto(`http://127.0.0.1:${appPort}/`);
      await page.click('a[href="/login"]');
      await page.waitForSelector('input[name="password"]');
      await page.fill('input[name="username"]', ALICE);
      await page.fill('input[name="password"]', ALICE_PASSWORD);
      await page.click('button[type="submit"]');
      if (consent) {
        await page.waitForSelector('button[value="allow"]');
        await page.click('button[value="allow"]');
      }
      await page.waitForSelector('#name', { timeout: 15_000 });
      expect(await page.textContent('#name')).toBe('Alice Liddell');
      expect(await page.textContent('#email')).toBe('alice@example.com');
      await page.click('a[href="/refresh"]');
      await page.waitForSelector('#name');
      await page.click('a[href="/logout"]');
      await page.waitForSelector('a[href="/login"]');
      expect(new URL(page.url()).origin).toBe(`http://127.0.0.1:${appPort}`);
      // Gatehouse's session ended too: signing in again shows the password form
      await page.click('a[href="/login"]');
      await page.waitForSelector('input[name="password"]');
    } catch (err) {
      throw new Error(`${String(err)}\nat ${page.url()}:\n${(await page.textContent('body').catch(() => '')) ?? ''}`, { cause: err });
    } finally {
      await context.close();
      await stopApp(app);
    }
  });
});
