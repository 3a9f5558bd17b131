// The pages in a real browser: served with sendPage (so the CSP applies),
// opened in headless Chromium, checked for CSP violations, styled, usable
// without JavaScript, and photographed at desktop and phone width into
// test-output/screenshots/ (git-ignored) for a person to look at. JavaScript
// is off in the browser wherever a form is used: the pages must work without it.
// Needs Chromium: /usr/bin/chromium (Debian's `chromium` package) or
// $CHROMIUM_PATH; without it the test fails with the install line (CI installs it).
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPages, sendPage, type PageDataMap, type PageName } from '../../src/web/index.js';

// The browser's globals, for the functions that run in the page (the project compiles without the DOM lib).
declare const document: { documentElement: { scrollWidth: number; scrollHeight: number }; body: unknown; querySelector(selector: string): unknown };
declare function getComputedStyle(element: unknown): { borderTopLeftRadius: string; backgroundColor: string };

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);

const OUT = new URL('../../test-output/screenshots/', import.meta.url).pathname;

const pages = createPages({ templatesDir: null });

interface Shot<P extends PageName = PageName> {
  name: string;
  page: P;
  data: PageDataMap[P];
  status: number;
}

const shot = <P extends PageName>(name: string, page: P, status: number, data: PageDataMap[P]): Shot => ({ name, page, data, status }) as Shot;

const SHOTS: Shot[] = [
  shot('sign-in', 'sign-in', 200, { csrf: 'csrf-1', flow: 'flow-1' }),
  shot('sign-in-error', 'sign-in', 401, { csrf: 'csrf-1', flow: 'flow-1', username: 'alice@example.com', error: 'The username or password is incorrect.' }),
  shot('sign-in-throttled', 'sign-in', 429, { csrf: 'csrf-1', flow: 'flow-1', username: 'alice@example.com', retryAfter: 30 }),
  shot('sign-in-oauth', 'sign-in', 200, { csrf: 'csrf-1', flow: 'flow-1', client: 'Orders Dashboard' }),
  shot('signed-in', 'signed-in', 200, { user: 'alice@example.com', csrf: 'csrf-1', continueUrl: '/app/' }),
  shot('sign-out', 'sign-out', 200, { csrf: 'csrf-1', user: 'alice@example.com' }),
  shot('sign-out-oauth', 'sign-out', 200, { csrf: 'csrf-1', client: 'Orders Dashboard', action: '/oauth/logout', request: 'lr-1' }),
  shot('signed-out', 'signed-out', 200, {}),
  shot('consent', 'consent', 200, {
    client: 'Orders Dashboard',
    user: 'alice@example.com',
    scopes: [
      { name: 'openid', description: 'Know who you are' },
      { name: 'profile', description: 'See your name' },
      { name: 'email', description: 'See your email address' },
      { name: 'orders:read', description: 'Read your orders' },
      { name: 'offline_access', description: 'Stay signed in when you are not using it' },
    ],
    csrf: 'csrf-1',
    request: 'req-1',
    action: '/consent',
  }),
  shot('error-403', 'error', 403, {
    status: 403,
    title: "You don't have access to this page",
    message: 'You are signed in as bob@example.com, and this page needs a role your account does not have.',
    requestId: '7f3c9a2e4b1d4c6f',
  }),
  shot('error-400', 'error', 400, {
    status: 400,
    title: 'This sign-in link is invalid or expired',
    message: 'Sign-in links work once and for a few minutes. Open the page you wanted again to get a new one.',
    link: { href: '/auth/sign-in', text: 'Sign in' },
  }),
];

const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800, colorScheme: 'light' },
  { name: 'phone', width: 390, height: 844, colorScheme: 'light' },
  { name: 'desktop-dark', width: 1280, height: 800, colorScheme: 'dark' },
] as const;

/** Pages shot in dark mode too. */
const DARK = ['sign-in-error', 'consent', 'signed-in', 'error-403'];

/** A 401/403/429 page is logged as a failed load: that is its status, not a problem. */
const FAILED_STATUS = /^Failed to load resource: the server responded with a status of/;

/** Form posts the test server received: path and fields. */
const posts: Array<{ path: string; fields: Record<string, string> }> = [];

function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))));
    req.on('error', reject);
  });
}

/** The client's redirect target on another origin (another port): what a consent form post leads to. */
function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

describe('web pages in Chromium', () => {
  let browser: Browser;
  let app: { server: Server; origin: string };
  let client: { server: Server; origin: string };
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    client = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`client got ${req.url ?? ''}`);
    });
    app = await startServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST') {
        void readForm(req).then(
          (fields) => {
            posts.push({ path: url.pathname, fields });
            // the consent answer redirects to the client; form-action must allow its origin (or not, ?allow=0)
            if (url.pathname === '/consent') res.writeHead(303, { location: `${client.origin}/callback?code=abc` }).end();
            else res.writeHead(303, { location: '/page/signed-out' }).end();
          },
          () => res.destroy(),
        );
        return;
      }
      const name = url.pathname.replace(/^\/page\//, '');
      const s = SHOTS.find((x) => x.name === name);
      if (s === undefined) {
        res.writeHead(404).end();
        return;
      }
      let html = pages.render(s.page, s.data as never);
      // a style the CSP does not know: the browser must refuse it (proves the check below can see a violation)
      if (url.searchParams.has('inject')) html = html.replace('</head>', '<style>body{background:red}</style></head>');
      const formAction = url.searchParams.get('allow') === '0' ? [] : [client.origin];
      sendPage(res, s.status, html, { styleHash: pages.stylesHash(), ...(s.page === 'consent' ? { formAction } : {}) });
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([app, client].filter(Boolean).map((s) => new Promise((r) => s.server.close(r))));
  });

  /** A page whose console errors (CSP violations among them) are collected. */
  async function open(context: BrowserContext, path: string): Promise<Page> {
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !FAILED_STATUS.test(m.text())) consoleErrors.push(`${path}: ${m.text()}`);
    });
    const response = await page.goto(`${app.origin}${path}`);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    return page;
  }

  it('every page: styled by its hashed inline style, no CSP violation, the form visible; screenshots at desktop, phone and dark', async () => {
    // one tab per viewport, the viewports side by side: a new tab costs more than a navigation
    await Promise.all(
      VIEWPORTS.map(async (vp) => {
        const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height }, colorScheme: vp.colorScheme, javaScriptEnabled: false });
        const errors: string[] = [];
        const page = await context.newPage();
        page.on('console', (m) => {
          if (m.type() === 'error' && !FAILED_STATUS.test(m.text())) errors.push(m.text());
        });
        for (const s of SHOTS) {
          if (vp.name === 'desktop-dark' && !DARK.includes(s.name)) continue;
          const where = `${s.name} at ${vp.name}`;
          const response = await page.goto(`${app.origin}/page/${s.name}`);
          expect(response?.status(), where).toBe(s.status);
          expect(response?.headers()['content-security-policy'], where).toContain("default-src 'none'");
          const layout = await page.evaluate(() => ({
            // the stylesheet applied: the card has its radius (a blocked <style> leaves it square)
            radius: getComputedStyle(document.querySelector('main.card') ?? document.body).borderTopLeftRadius,
            scrollWidth: document.documentElement.scrollWidth,
            scrollHeight: document.documentElement.scrollHeight,
          }));
          expect(layout.radius, where).not.toBe('0px');
          expect(layout.scrollWidth, `${where}: nothing wider than the screen`).toBeLessThanOrEqual(vp.width);
          if (s.page !== 'error' && s.page !== 'signed-out') expect(await page.locator('form').first().isVisible(), where).toBe(true);
          if (s.page === 'sign-in') {
            expect(await page.getByLabel('Username').isVisible(), where).toBe(true);
            expect(await page.getByLabel('Password').isVisible(), where).toBe(true);
          }
          await page.screenshot({ path: `${OUT}${s.name}-${vp.name}.png`, fullPage: layout.scrollHeight > vp.height });
          if (vp.name === 'phone') {
            // the narrowest phones in use: still nothing to scroll sideways
            await page.setViewportSize({ width: 360, height: vp.height });
            expect(await page.evaluate(() => document.documentElement.scrollWidth), `${s.name} at 360 px`).toBeLessThanOrEqual(360);
            await page.setViewportSize({ width: vp.width, height: vp.height });
          }
          expect(errors, where).toEqual([]);
        }
        await context.close();
      }),
    );
  }, 60_000); // ~5 s on an idle machine; screenshots slow down a lot when the suite shares two cores

  it('an inline style the CSP does not list is refused (the check above can see a violation)', async () => {
    const context = await browser.newContext();
    consoleErrors.length = 0;
    const page = await open(context, '/page/sign-in?inject');
    await expect.poll(() => consoleErrors.join('\n')).toMatch(/Content Security Policy/);
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).not.toBe('rgb(255, 0, 0)');
    await context.close();
  });

  it('forms work without JavaScript: sign-in posts its fields to /auth/sign-in', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await open(context, '/page/sign-in');
    await page.getByLabel('Username').fill('alice@example.com');
    await page.getByLabel('Password').fill('alice-password');
    await Promise.all([page.waitForURL(/\/page\/signed-out$/), page.getByRole('button', { name: 'Sign in' }).click()]);
    expect(posts.at(-1)).toEqual({
      path: '/auth/sign-in',
      fields: { csrf: 'csrf-1', flow: 'flow-1', username: 'alice@example.com', password: 'alice-password' },
    });
    await context.close();
  });

  it("consent: Allow posts, and the redirect to the client's origin passes form-action only when that origin is listed", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    consoleErrors.length = 0;
    const page = await open(context, '/page/consent');
    await Promise.all([page.waitForURL(`${client.origin}/callback?code=abc`), page.getByRole('button', { name: 'Allow' }).click()]);
    expect(posts.at(-1)).toEqual({ path: '/consent', fields: { csrf: 'csrf-1', request: 'req-1', decision: 'allow' } });
    expect(consoleErrors).toEqual([]);

    const blocked = await open(context, '/page/consent?allow=0');
    await blocked.getByRole('button', { name: 'Deny' }).click();
    await expect.poll(() => consoleErrors.join('\n')).toMatch(/form-action/);
    expect(posts.at(-1)?.fields.decision).toBe('deny');
    expect(blocked.url()).not.toContain(client.origin);
    await context.close();
  });
});
