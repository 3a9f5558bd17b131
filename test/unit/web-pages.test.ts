import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPages, PAGE_NAMES, pageCsp, sendPage, type PageDataMap, type PageName } from '../../src/web/index.js';
import { BUILT_IN_STYLES, BUILT_IN_TEMPLATES } from '../../src/web/templates.js';

const TYPICAL: PageDataMap = {
  'sign-in': { csrf: 'csrf-token-1', flow: 'flow-id-1' },
  'signed-in': { user: 'alice@example.com', csrf: 'csrf-token-1', continueUrl: '/app/orders?page=2' },
  'sign-out': { csrf: 'csrf-token-1', user: 'alice@example.com' },
  'signed-out': {},
  consent: {
    client: 'Orders SPA',
    user: 'alice@example.com',
    scopes: [
      { name: 'openid', description: 'Know who you are' },
      { name: 'orders:read', description: 'Read your orders' },
    ],
    csrf: 'csrf-token-1',
    request: 'req-1',
    action: '/oauth/authorize',
  },
  error: { status: 403, title: "You don't have access to this page", message: 'Your account lacks the role this page requires.', requestId: 'rid-1' },
};

const pages = createPages({ templatesDir: null });
const renderAny = (page: PageName, data: PageDataMap[PageName]): string => pages.render(page, data as never);

/** The text of the one <style> element, exactly as the browser hashes it. */
function inlineStyle(html: string): string {
  const m = /<style>([\s\S]*?)<\/style>/.exec(html);
  if (m?.[1] === undefined) throw new Error('no <style> in page');
  return m[1];
}

/** Captures what sendPage writes. */
function fakeResponse(): { res: ServerResponse; status: () => number; headers: () => Record<string, string | number>; body: () => string } {
  let status = 0;
  let headers: Record<string, string | number> = {};
  let body = '';
  const res = {
    headersSent: false,
    writeHead(s: number, h: Record<string, string | number>) {
      status = s;
      headers = h;
      return res;
    },
    end(b: string) {
      body = b;
    },
    destroy() {},
  };
  return { res: res as unknown as ServerResponse, status: () => status, headers: () => headers, body: () => body };
}

describe('web pages: the built-in templates', () => {
  it('are the files in src/web/templates (run node tools/web-templates.mjs after editing them)', () => {
    const dir = new URL('../../src/web/templates/', import.meta.url);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.hbs'))
      .sort();
    expect(files).toEqual(
      Object.keys(BUILT_IN_TEMPLATES)
        .map((n) => `${n}.hbs`)
        .sort(),
    );
    for (const [name, text] of Object.entries(BUILT_IN_TEMPLATES)) expect(readFileSync(new URL(`${name}.hbs`, dir), 'utf8'), name).toBe(text);
    expect(readFileSync(new URL('styles.css', dir), 'utf8')).toBe(BUILT_IN_STYLES);
  });

  it('never use the unescaped {{{ }}} form, scripts, or anything loaded from elsewhere', () => {
    for (const [name, text] of Object.entries(BUILT_IN_TEMPLATES)) {
      expect(text, name).not.toContain('{{{');
      expect(text, name).not.toContain('{{&');
      expect(text, name).not.toMatch(/<script|<link|<img|<iframe|\son[a-z]+=|style="|https?:\/\//i);
    }
    expect(BUILT_IN_STYLES).not.toMatch(/url\(|@import/);
  });

  it('render every page with typical data into one whole document with the inline style', () => {
    for (const page of PAGE_NAMES) {
      const html = renderAny(page, TYPICAL[page]);
      expect(html, page).toMatch(/^<!doctype html>\n<html lang="en">/);
      expect(html, page).toContain('<meta name="viewport"');
      expect(html, page).toContain('<title>');
      expect(html, page).toContain('Gatehouse');
      expect(inlineStyle(html), page).toBe(BUILT_IN_STYLES);
      expect(html.trimEnd(), page).toMatch(/<\/html>$/);
    }
  });

  it('sign-in: labelled fields, hidden csrf and flow, posted to /auth/sign-in', () => {
    const html = pages.render('sign-in', TYPICAL['sign-in']);
    expect(html).toContain('<title>Sign in · Gatehouse</title>');
    expect(html).toContain('<form method="post" action="/auth/sign-in">');
    expect(html).toContain('<input type="hidden" name="csrf" value="csrf-token-1">');
    expect(html).toContain('<input type="hidden" name="flow" value="flow-id-1">');
    expect(html).toMatch(/<input id="username" name="username" type="text" value="" autocomplete="username"[^>]* required autofocus>/);
    expect(html).toMatch(/<input id="password" name="password" type="password" autocomplete="current-password" required>/);
    expect(html).toContain('to continue to Gatehouse');
    expect(html).not.toContain('role="alert"');
    // no flow: the field is still there, empty; an optional field may be given as undefined
    expect(pages.render('sign-in', { csrf: 'c' })).toContain('<input type="hidden" name="flow" value="">');
    expect(pages.render('sign-in', { csrf: 'c', flow: undefined, error: undefined, retryAfter: undefined, client: undefined })).toBe(
      pages.render('sign-in', { csrf: 'c' }),
    );
  });

  it('sign-in: the generic error keeps the username and moves the focus to the password', () => {
    const html = pages.render('sign-in', { csrf: 'c', flow: 'f', username: 'alice@example.com', error: 'The username or password is incorrect' });
    expect(html).toContain('<div class="alert" role="alert">The username or password is incorrect</div>');
    expect(html).toMatch(/name="username" type="text" value="alice@example.com"[^>]* required>/);
    expect(html).toMatch(/name="password" type="password"[^>]* required autofocus>/);
  });

  it('sign-in: the throttled variant says when to try again, in words', () => {
    const at = (retryAfter: number): string => pages.render('sign-in', { csrf: 'c', retryAfter, error: 'ignored' });
    expect(at(30)).toContain('Too many attempts. Try again in 30 seconds.');
    expect(at(30)).not.toContain('ignored');
    expect(at(1)).toContain('Try again in 1 second.');
    expect(at(0.2)).toContain('Try again in 1 second.');
    expect(at(61)).toContain('Try again in 2 minutes.');
    expect(at(900)).toContain('Try again in 15 minutes.');
    expect(at(7200)).toContain('Try again in 2 hours.');
  });

  it('sign-in for an OAuth client names it', () => {
    expect(pages.render('sign-in', { csrf: 'c', client: 'Orders SPA' })).toContain('to continue to <strong>Orders SPA</strong>');
  });

  it('signed-in: the user, a Continue link when a flow is pending, the sign-out form', () => {
    const html = pages.render('signed-in', TYPICAL['signed-in']);
    expect(html).toContain('Signed in as <strong>alice@example.com</strong>');
    expect(html).toContain('<a class="button primary" href="/app/orders?page&#x3D;2">Continue</a>'); // = is escaped too, the browser reads it back
    expect(html).toContain('<form method="post" action="/auth/sign-out">');
    expect(html).toContain('<input type="hidden" name="csrf" value="csrf-token-1">');
    const noFlow = pages.render('signed-in', { user: 'bob', csrf: 'c' });
    expect(noFlow).not.toContain('Continue');
    expect(noFlow).toContain('<button type="submit" class="button primary">Sign out</button>');
  });

  it('sign-out: a confirmation form with csrf; for OAuth logout the client, the request id and its own action', () => {
    const html = pages.render('sign-out', TYPICAL['sign-out']);
    expect(html).toContain('<form method="post" action="/auth/sign-out" class="actions">');
    expect(html).toContain('<input type="hidden" name="csrf" value="csrf-token-1">');
    expect(html).toContain('Do you want to sign out of Gatehouse?');
    expect(html).not.toContain('name="request"');
    const oauth = pages.render('sign-out', { csrf: 'c', client: 'Orders SPA', action: '/oauth/logout', request: 'lr-1' });
    expect(oauth).toContain('<strong>Orders SPA</strong> asks you to sign out of Gatehouse.');
    expect(oauth).toContain('action="/oauth/logout"');
    expect(oauth).toContain('<input type="hidden" name="request" value="lr-1">');
    expect(oauth).not.toContain('Signed in as');
  });

  it('signed-out: says so and links to the sign-in page', () => {
    const html = pages.render('signed-out', {});
    expect(html).toContain('You’re signed out');
    expect(html).toContain('href="/auth/sign-in"');
  });

  it('consent: the client, each scope, Allow and Deny, csrf and the request id', () => {
    const html = pages.render('consent', TYPICAL.consent);
    expect(html).toContain('<span class="client">Orders SPA</span> wants to access your account');
    expect(html).toContain('<li><span class="scope-text">Know who you are</span> <code class="scope-name">openid</code></li>');
    expect(html).toContain('<li><span class="scope-text">Read your orders</span> <code class="scope-name">orders:read</code></li>');
    expect(html).toContain('<form method="post" action="/oauth/authorize">');
    expect(html).toContain('<input type="hidden" name="request" value="req-1">');
    expect(html).toContain('name="decision" value="allow"');
    expect(html).toContain('name="decision" value="deny"');
    expect(pages.render('consent', { ...TYPICAL.consent, scopes: [] })).not.toContain('<ul');
  });

  it('error: status, title, message, a link back and the request id', () => {
    const html = pages.render('error', TYPICAL.error);
    expect(html).toContain('<title>You don&#x27;t have access to this page · Gatehouse</title>');
    expect(html).toContain('Error 403');
    expect(html).toContain('<h1>You don&#x27;t have access to this page</h1>');
    expect(html).toContain('<a class="button primary" href="/">Go to the start page</a>');
    expect(html).toContain('<code>rid-1</code>');
    const invalid = pages.render('error', {
      status: 400,
      title: 'This sign-in link is invalid or expired',
      message: 'Start again from the page you wanted.',
      link: { href: '/auth/sign-in', text: 'Sign in again' },
    });
    expect(invalid).toContain('<a class="button primary" href="/auth/sign-in">Sign in again</a>');
    expect(invalid).not.toContain('Request ID');
    expect(pages.render('error', { ...TYPICAL.error, link: undefined, requestId: undefined })).toContain('href="/">Go to the start page</a>');
  });

  it('links and form actions must stay on this origin', () => {
    for (const href of ['https://evil.example/', '//evil.example/', '/\\evil.example', '/\t/evil.example', 'javascript:alert(1)', '', 'app']) {
      expect(() => pages.render('signed-in', { user: 'u', csrf: 'c', continueUrl: href }), href).toThrow(/continueUrl must be a path on this origin/);
      expect(() => pages.render('error', { status: 400, title: 't', message: 'm', link: { href, text: 'x' } }), href).toThrow(/link\.href/);
      expect(() => pages.render('consent', { ...TYPICAL.consent, action: href }), href).toThrow(/action/);
      expect(() => pages.render('sign-out', { csrf: 'c', action: href }), href).toThrow(/action/);
    }
  });

  it('every visible input has a <label for> naming its id', () => {
    for (const page of PAGE_NAMES) {
      const html = renderAny(page, TYPICAL[page]);
      const labels = new Set([...html.matchAll(/<label for="([^"]+)">[^<]+<\/label>/g)].map((m) => m[1]));
      for (const input of html.matchAll(/<input\b[^>]*>/g)) {
        if (/type="hidden"/.test(input[0])) continue;
        const id = /\bid="([^"]+)"/.exec(input[0])?.[1];
        expect(id, `${page}: ${input[0]}`).toBeDefined();
        expect(labels.has(id), `${page}: no label for #${id}`).toBe(true);
      }
    }
    expect(pages.render('sign-in', TYPICAL['sign-in']).match(/<label for=/g)).toHaveLength(2);
  });
});

describe('web pages: every value from a user or a client is escaped', () => {
  const HOSTILE = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    '</style><script>alert(1)</script>',
    '`${x}`=&amp;',
  ];
  const TEMPLATE_SYNTAX = '{{productName}}{{> layout}}{{{csrf}}}';

  /** Each page with every string a caller passes replaced by `v`. */
  const hostileData = (v: string): Array<[PageName, PageDataMap[PageName]]> => [
    ['sign-in', { csrf: v, flow: v, username: v, error: v, client: v }],
    ['sign-in', { csrf: v, flow: v, retryAfter: 5 }],
    ['signed-in', { user: v, csrf: v, continueUrl: `/next?x=${encodeURIComponent(v)}` }],
    ['sign-out', { csrf: v, user: v, client: v, request: v }],
    ['consent', { client: v, user: v, scopes: [{ name: v, description: v }], csrf: v, request: v, action: '/oauth/authorize' }],
    ['error', { status: 400, title: v, message: v, link: { href: '/', text: v }, requestId: v }],
  ];

  it.each(HOSTILE)('%s never appears raw, only escaped', (payload) => {
    const escaped = payload
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#x27;')
      .replace(/`/g, '&#x60;')
      .replace(/=/g, '&#x3D;');
    for (const [page, data] of hostileData(payload)) {
      const html = renderAny(page, data);
      expect(html.includes(payload), `${page}: raw payload in page`).toBe(false);
      expect(html, page).toContain(escaped);
      expect(html.match(/<script/gi), page).toBeNull();
      expect(html.match(/<style>/g), page).toHaveLength(1);
    }
  });

  it('template syntax in a value is shown as text, never evaluated', () => {
    for (const [page, data] of hostileData(TEMPLATE_SYNTAX)) {
      const html = renderAny(page, data);
      expect(html, page).toContain('{{productName}}{{&gt; layout}}{{{csrf}}}');
    }
  });

  it('a flow or csrf value cannot leave its attribute', () => {
    const html = pages.render('sign-in', { csrf: 'a" name="username', flow: "b' autofocus x='" });
    expect(html).toContain('<input type="hidden" name="csrf" value="a&quot; name&#x3D;&quot;username">');
    expect(html).toContain('<input type="hidden" name="flow" value="b&#x27; autofocus x&#x3D;&#x27;">');
  });
});

describe('web pages: operator overrides', () => {
  const dirs: string[] = [];
  const folder = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-templates-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a page file and the layout replace the built-in ones; missing files fall back', () => {
    const dir = folder({
      'sign-in.hbs': '{{#> layout title="Log in"}}<p class="acme">Acme login for {{client}}</p><input type="hidden" name="csrf" value="{{csrf}}">{{/layout}}',
      'layout.hbs': '<!doctype html><html><head><title>{{title}} - Acme</title>{{stylesheet}}</head><body class="acme">{{> @partial-block}}</body></html>',
    });
    const custom = createPages({ templatesDir: dir });
    const signIn = custom.render('sign-in', { csrf: '<x>', client: 'A&B' });
    expect(signIn).toBe(
      `<!doctype html><html><head><title>Log in - Acme</title><style>${BUILT_IN_STYLES}</style></head><body class="acme"><p class="acme">Acme login for A&amp;B</p><input type="hidden" name="csrf" value="&lt;x&gt;"></body></html>`,
    );
    // the consent page is the built-in one, inside the operator's layout
    const consent = custom.render('consent', TYPICAL.consent);
    expect(consent).toContain('<title>Allow access - Acme</title>');
    expect(consent).toContain('<span class="client">Orders SPA</span> wants to access your account');
    expect(consent).not.toContain('<header class="brand">');
    expect(custom.stylesHash()).toBe(pages.stylesHash());
  });

  it('a page alone keeps the built-in layout', () => {
    const custom = createPages({ templatesDir: folder({ 'error.hbs': '{{#> layout}}<h1>Oops {{status}}</h1>{{/layout}}' }) });
    const html = custom.render('error', TYPICAL.error);
    expect(html).toContain('<header class="brand">');
    expect(html).toContain('<h1>Oops 403</h1>');
    expect(custom.render('sign-in', TYPICAL['sign-in'])).toBe(pages.render('sign-in', TYPICAL['sign-in']));
  });

  it('styles.css replaces the stylesheet, and the hash follows it', () => {
    const css = 'body { background: #123456; }';
    const custom = createPages({ templatesDir: folder({ 'styles.css': css, 'README.txt': 'other files are left alone' }) });
    expect(custom.styles()).toBe(css);
    expect(inlineStyle(custom.render('signed-out', {}))).toBe(css);
    expect(custom.stylesHash()).toBe(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
    expect(custom.stylesHash()).not.toBe(pages.stylesHash());
  });

  it('an override that does not compile is an error naming its file', () => {
    const dir = folder({ 'consent.hbs': '{{#> layout}}\n<p>{{#if client}}unclosed</p>\n{{/layout}}' });
    expect(() => createPages({ templatesDir: dir })).toThrow(`templates: ${join(dir, 'consent.hbs')}: `);
    expect(() => createPages({ templatesDir: dir })).toThrow(/if doesn't match layout/);
    const layout = folder({ 'layout.hbs': '<html>{{#each}}</html>' });
    expect(() => createPages({ templatesDir: layout })).toThrow(`templates: ${join(layout, 'layout.hbs')}: `);
  });

  it('an override cannot call helpers that do not exist', () => {
    const dir = folder({ 'error.hbs': '{{#> layout}}{{exec "rm -rf /"}}{{/layout}}' });
    expect(() => createPages({ templatesDir: dir })).toThrow(new RegExp(`templates: .*error\\.hbs: .*unknown helper exec`));
  });

  it('an override that fails when rendered (a missing partial) is an error at creation, naming its file', () => {
    const dir = folder({ 'signed-out.hbs': '{{> frame}}' });
    expect(() => createPages({ templatesDir: dir })).toThrow(`templates: ${join(dir, 'signed-out.hbs')} (with built-in layout.hbs): `);
  });

  it('a misspelt page file, a missing folder and a stylesheet that closes its element are errors', () => {
    const dir = folder({ 'signin.hbs': 'x' });
    expect(() => createPages({ templatesDir: dir })).toThrow(
      `templates: ${join(dir, 'signin.hbs')}: not a page Gatehouse renders (expected one of layout.hbs, sign-in.hbs,`,
    );
    expect(() => createPages({ templatesDir: join(dir, 'nope') })).toThrow(`templates: ${join(dir, 'nope')}: cannot read the folder`);
    const css = folder({ 'styles.css': 'a{}</STYLE><script>alert(1)</script>' });
    expect(() => createPages({ templatesDir: css })).toThrow(`templates: ${join(css, 'styles.css')}: must not contain "</style"`);
  });

  it('the product name is the operator’s choice, escaped like everything else', () => {
    const html = createPages({ templatesDir: null, productName: 'Acme <Ops>' }).render('sign-in', { csrf: 'c' });
    expect(html).toContain('<title>Sign in · Acme &lt;Ops&gt;</title>');
    expect(html).toContain('to continue to Acme &lt;Ops&gt;');
  });
});

describe('sendPage: the headers of SPEC §7', () => {
  it('sends the page with the CSP that allows exactly its inline style', () => {
    const html = pages.render('sign-in', TYPICAL['sign-in']);
    const r = fakeResponse();
    sendPage(r.res, 401, html, { styleHash: pages.stylesHash() });
    const hash = createHash('sha256').update(inlineStyle(html), 'utf8').digest('base64');
    expect(r.status()).toBe(401);
    expect(r.body()).toBe(html);
    expect(r.headers()).toEqual({
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'content-security-policy': `default-src 'none'; style-src 'sha256-${hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });
  });

  it('defaults to the built-in stylesheet’s hash', () => {
    const r = fakeResponse();
    sendPage(r.res, 200, pages.render('signed-out', {}));
    expect(r.headers()['content-security-policy']).toContain(`style-src ${pages.stylesHash()};`);
  });

  it('adds form-action origins, and extra headers that cannot replace the security ones', () => {
    const r = fakeResponse();
    sendPage(r.res, 429, 'x', {
      formAction: ['https://client.example', 'http://127.0.0.1:5173', 'com.example.app:'],
      headers: { 'Retry-After': '30', 'Cache-Control': 'public, max-age=3600', 'Content-Security-Policy': 'default-src *' },
    });
    expect(r.headers()['retry-after']).toBe('30');
    expect(r.headers()['cache-control']).toBe('no-store');
    expect(r.headers()['content-security-policy']).toContain("form-action 'self' https://client.example http://127.0.0.1:5173 com.example.app:;");
    expect(Object.keys(r.headers()).filter((k) => k.toLowerCase() === 'cache-control')).toHaveLength(1);
  });

  it('refuses form-action sources that are not origins (no CSP injection through a redirect URI)', () => {
    for (const bad of [
      'https://client.example/callback',
      "https://a.example; script-src 'unsafe-inline'",
      'https://a.example https://b.example',
      '*',
      "'unsafe-inline'",
      'javascript:',
      'data:',
      'https:',
      'HTTP:',
      '',
    ])
      expect(() => pageCsp(pages.stylesHash(), [bad]), bad).toThrow(/formAction entries must be origins or schemes/);
    expect(() => pageCsp('sha256-abc')).toThrow(/styleHash must be/);
  });

  it('cuts the connection when the response already started', () => {
    let destroyed = false;
    const res = { headersSent: true, destroy: () => (destroyed = true) } as unknown as ServerResponse;
    sendPage(res, 200, 'x');
    expect(destroyed).toBe(true);
  });
});
