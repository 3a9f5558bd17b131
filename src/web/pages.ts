import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { BUILT_IN_STYLES, BUILT_IN_TEMPLATES } from './templates.js';

/**
 * The server-rendered pages of browser sign-in (SPEC §7) and of the OAuth
 * provider (§8): Handlebars templates, built in or replaced one by one from
 * the operator's `sessions.templates` folder.
 *
 * Handlebars because it escapes every `{{value}}` by default, has no way to
 * run code from a template (an operator's override can only lay out the data
 * it is given, with the built-in helpers), and is mature. The built-in
 * templates never use the unescaped `{{{ }}}` form.
 *
 * Every template is compiled and rendered once with sample data when the
 * Pages are created, so a broken override is a start-up error naming its file,
 * never a failure at the first sign-in. A reload creates new Pages.
 */

export type PageName = 'sign-in' | 'signed-in' | 'sign-out' | 'signed-out' | 'consent' | 'error';

export const PAGE_NAMES: readonly PageName[] = ['sign-in', 'signed-in', 'sign-out', 'signed-out', 'consent', 'error'];

/** GET/POST /auth/sign-in. The form posts `username`, `password`, `csrf` and `flow` to /auth/sign-in. */
export interface SignInPage {
  /** the form's CSRF token (hidden field `csrf`) */
  csrf: string;
  /** the pending flow id (hidden field `flow`; empty when there is none) */
  flow?: string | undefined;
  /** the username to fill in again after a failed attempt */
  username?: string | undefined;
  /** the one generic failure message, e.g. "The username or password is incorrect" */
  error?: string | undefined;
  /** throttled (429): seconds until the next attempt; shows "Too many attempts. Try again in …" instead of `error` */
  retryAfter?: number | undefined;
  /** OAuth: the client's display name, "to continue to <client>" */
  client?: string | undefined;
}

/** GET /auth/sign-in with a session and no flow. The sign-out form posts `csrf` to /auth/sign-out. */
export interface SignedInPage {
  /** the signed-in user's display name */
  user: string;
  /** the sign-out form's CSRF token */
  csrf: string;
  /** where "Continue" leads when a flow is pending: a path on this origin ("/app/"), never another origin */
  continueUrl?: string | undefined;
}

/** GET /auth/sign-out, and the confirmation page of GET /oauth/logout without an id_token_hint. */
export interface SignOutPage {
  /** the form's CSRF token (hidden field `csrf`) */
  csrf: string;
  /** the signed-in user's display name, when known */
  user?: string | undefined;
  /** OAuth logout: the display name of the client that asks ("<client> asks you to sign out") */
  client?: string | undefined;
  /** where the form posts: a path on this origin, default /auth/sign-out */
  action?: string | undefined;
  /** OAuth logout: the id of the stored logout request (hidden field `request`) */
  request?: string | undefined;
}

/** After signing out, where no redirect was asked for. */
export type SignedOutPage = Record<string, never>;

export interface ConsentScope {
  /** the scope as requested, e.g. `orders:read` */
  name: string;
  /** what it allows, in words, e.g. "Read your orders" */
  description: string;
}

/** The OAuth consent page. The form posts `csrf`, `request` and `decision` (`allow` | `deny`) to `action`. */
export interface ConsentPage {
  /** the client's display name */
  client: string;
  /** the signed-in user's display name */
  user: string;
  /** the scopes to be granted, in the order to show them */
  scopes: readonly ConsentScope[];
  /** the form's CSRF token (hidden field `csrf`) */
  csrf: string;
  /** the id of the stored authorization request (hidden field `request`) */
  request: string;
  /** where the form posts: a path on this origin */
  action: string;
}

/** An error shown as a page (a refused browser navigation, an OAuth request that cannot be redirected). */
export interface ErrorPage {
  status: number;
  /** e.g. "You don't have access to this page" */
  title: string;
  /** e.g. "Your account does not have the role this page requires." */
  message: string;
  /** the way back: a path on this origin; default `/` "Go to the start page" */
  link?: { href: string; text: string } | undefined;
  /** the request id, as in JSON error bodies, for support requests */
  requestId?: string | undefined;
}

/** (Optional fields also take `undefined`, so a caller passes what it has: `{ csrf, flow: query.flow }`.) */
export interface PageDataMap {
  'sign-in': SignInPage;
  'signed-in': SignedInPage;
  'sign-out': SignOutPage;
  'signed-out': SignedOutPage;
  consent: ConsentPage;
  error: ErrorPage;
}

export type PageData<P extends PageName = PageName> = PageDataMap[P];

export interface Pages {
  /** The whole HTML document of one page; every value in `data` is HTML-escaped. Send it with sendPage. */
  render<P extends PageName>(page: P, data: PageData<P>): string;
  /** The CSS inlined in every page's <style> element (built in, or `styles.css` from the templates folder). */
  styles(): string;
  /** That CSS's CSP hash source, quotes included: `'sha256-…'`. Pass it to sendPage as `styleHash`. */
  stylesHash(): string;
}

export interface PagesOptions {
  /** the operator's folder of overrides (`sessions.templates`); null: the built-in pages only */
  templatesDir: string | null;
  /** the name shown above every card and in the window title; default "Gatehouse" */
  productName?: string;
}

type TemplateName = PageName | 'layout';

/** The CSP hash source of an inline <style> element's text: `'sha256-<base64>'`. */
export function styleHashOf(css: string): string {
  return `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`;
}

/**
 * Only the built-in helpers (if, unless, each, with, lookup, log) and
 * `stylesheet`, which writes the <style> element the CSP hash allows. An
 * unknown helper in an override fails at start-up.
 */
const COMPILE_OPTIONS = {
  knownHelpers: { stylesheet: true },
  knownHelpersOnly: true,
  preventIndent: true,
} as const;

/** Typical data for each page: every template is rendered once with it at creation to catch what compiling does not (a missing partial). */
const SAMPLE: PageDataMap = {
  'sign-in': { csrf: 'sample', flow: 'sample', username: 'sample', error: 'sample', client: 'sample' },
  'signed-in': { user: 'sample', csrf: 'sample', continueUrl: '/' },
  'sign-out': { csrf: 'sample', user: 'sample', client: 'sample', request: 'sample' },
  'signed-out': {},
  consent: { client: 'sample', user: 'sample', scopes: [{ name: 'openid', description: 'sample' }], csrf: 'sample', request: 'sample', action: '/' },
  error: { status: 400, title: 'sample', message: 'sample', requestId: 'sample' },
};

export function createPages(opts: PagesOptions): Pages {
  const productName = opts.productName ?? 'Gatehouse';
  const overrides = readOverrides(opts.templatesDir);
  const css = overrides.styles ?? BUILT_IN_STYLES;
  if (/<\/style/i.test(css)) throw new Error(`templates: ${overrides.stylesFile ?? 'built-in styles.css'}: must not contain "</style"`);
  const hash = styleHashOf(css);

  const env = Handlebars.create();
  env.registerHelper('stylesheet', () => new env.SafeString(`<style>${css}</style>`));

  const compile = (name: TemplateName): { fn: HandlebarsTemplateDelegate; file: string } => {
    const override = overrides.templates.get(name);
    const file = override?.file ?? `built-in ${name}.hbs`;
    const source = override?.source ?? BUILT_IN_TEMPLATES[name];
    try {
      // compile() is lazy: precompile() parses and compiles now, so errors surface here
      env.precompile(source, COMPILE_OPTIONS);
      return { fn: env.compile(source, COMPILE_OPTIONS), file };
    } catch (err) {
      throw new Error(`templates: ${file}: ${message(err)}`, { cause: err });
    }
  };

  const layout = compile('layout');
  env.registerPartial('layout', layout.fn);
  const compiled = new Map<PageName, { fn: HandlebarsTemplateDelegate; file: string }>();
  for (const page of PAGE_NAMES) compiled.set(page, compile(page));

  const render = <P extends PageName>(page: P, data: PageData<P>): string => {
    const template = compiled.get(page);
    if (template === undefined) throw new Error(`unknown page ${String(page)}`);
    return template.fn({ productName, ...view(page, data) });
  };

  for (const page of PAGE_NAMES) {
    try {
      render(page, SAMPLE[page]);
    } catch (err) {
      throw new Error(`templates: ${compiled.get(page)?.file ?? page} (with ${layout.file}): ${message(err)}`, { cause: err });
    }
  }

  return { render, styles: () => css, stylesHash: () => hash };
}

interface Overrides {
  templates: Map<TemplateName, { file: string; source: string }>;
  styles?: string;
  stylesFile?: string;
}

const TEMPLATE_NAMES: readonly TemplateName[] = ['layout', ...PAGE_NAMES];

/** The operator's files: `<page>.hbs`, `layout.hbs`, `styles.css`. Any other `.hbs` is a typo, and an error. */
function readOverrides(dir: string | null): Overrides {
  const out: Overrides = { templates: new Map() };
  if (dir === null) return out;
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (err) {
    throw new Error(`templates: ${dir}: cannot read the folder (${message(err)})`, { cause: err });
  }
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`templates: ${file}: cannot read it (${message(err)})`, { cause: err });
    }
  };
  for (const f of files.sort()) {
    if (f === 'styles.css') {
      out.stylesFile = join(dir, f);
      out.styles = read(out.stylesFile);
    } else if (f.endsWith('.hbs')) {
      const name = f.slice(0, -'.hbs'.length);
      const known = TEMPLATE_NAMES.find((n) => n === name);
      if (known === undefined)
        throw new Error(`templates: ${join(dir, f)}: not a page Gatehouse renders (expected one of ${TEMPLATE_NAMES.map((n) => `${n}.hbs`).join(', ')})`);
      out.templates.set(known, { file: join(dir, f), source: read(join(dir, f)) });
    }
  }
  return out;
}

/** What a template sees: the page's data, with defaults filled in and a few derived values. */
function view(page: PageName, data: PageData): Record<string, unknown> {
  switch (page) {
    case 'sign-in': {
      const d = data as SignInPage;
      return { ...d, flow: d.flow ?? '', ...(d.retryAfter !== undefined ? { retryIn: duration(d.retryAfter) } : {}) };
    }
    case 'signed-in': {
      const d = data as SignedInPage;
      if (d.continueUrl !== undefined) localPath(d.continueUrl, 'continueUrl');
      return { ...d, initial: initial(d.user) };
    }
    case 'sign-out': {
      const d = data as SignOutPage;
      return { ...d, action: localPath(d.action ?? '/auth/sign-out', 'action'), ...(d.user !== undefined ? { initial: initial(d.user) } : {}) };
    }
    case 'signed-out':
      return {};
    case 'consent': {
      const d = data as ConsentPage;
      localPath(d.action, 'action');
      return { ...d, scopes: d.scopes.map((s) => ({ name: s.name, description: s.description })), initial: initial(d.user) };
    }
    case 'error': {
      const d = data as ErrorPage;
      const link = d.link ?? { href: '/', text: 'Go to the start page' };
      localPath(link.href, 'link.href');
      return { ...d, link: { href: link.href, text: link.text } };
    }
  }
}

/**
 * Links and form actions stay on this origin: a path starting with one `/`.
 * Browsers drop tabs and newlines inside URLs and read `\` as `/`, so
 * neither may appear anywhere ("/\t/evil.example" is "//evil.example").
 */
function localPath(value: string, what: string): string {
  if (!/^\/(?![/\\])[^\\\x00-\x20\x7f]*$/.test(value)) throw new Error(`${what} must be a path on this origin, got ${JSON.stringify(value)}`);
  return value;
}

function initial(user: string): string {
  return Array.from(user.trim())[0]?.toUpperCase() ?? '?';
}

/** "30 seconds", "1 minute", "2 hours": rounded up, so it never promises a retry too early. */
function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'a moment';
  const s = Math.max(1, Math.ceil(seconds));
  const [n, unit] = s < 60 ? [s, 'second'] : s < 3600 ? [Math.ceil(s / 60), 'minute'] : [Math.ceil(s / 3600), 'hour'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
