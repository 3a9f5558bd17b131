import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import { crossSiteReason } from '../http/browser.js';
import { readParams } from '../http/body.js';
import { clearedCookie, readSessionCookie, sessionCookie, type CookieSettings } from '../http/cookies.js';
import type { LocalHandler, RequestContext } from '../pipeline/context.js';
import { revokeFamily } from '../revocation/revoke.js';
import type { FlowRecord, Flows } from '../sessions/flows.js';
import type { SessionManager } from '../sessions/sessions.js';
import { BODY_LIMIT, seconds, type IssuerDeps } from './deps.js';
import { authenticateUser, startLoginSession } from './login.js';
import { OAuthRecords } from './oauth/records.js';

/** The pages Gatehouse renders (web/); the issuer names the page and its data. */
export type PageName = 'sign-in' | 'signed-in' | 'sign-out' | 'consent' | 'error';

/** What the sign-in pages need on top of the token service (SPEC §7); present when `sessions` is configured. */
export interface BrowserDeps {
  readonly sessions: SessionManager;
  readonly flows: Flows;
  readonly cookie: CookieSettings;
  readonly publicOrigin: string;
  readonly absoluteTtlMs: number;
  page(
    res: ServerResponse,
    status: number,
    page: PageName,
    data: Record<string, unknown>,
    headers?: Record<string, string>,
    formAction?: readonly string[],
  ): void;
}

/**
 * 403 for one of Gatehouse's forms that was forged, posted from another site
 * or is too old (sign-in, sign-out, consent, logout confirmation): one page,
 * with what to do next. Nothing the form asked for has happened.
 */
export function refuseExpiredForm(
  b: BrowserDeps,
  ctx: RequestContext,
  res: ServerResponse,
  reason: string,
  next: string,
  link?: { href: string; text: string },
): void {
  ctx.reason = reason;
  b.page(res, 403, 'error', {
    status: 403,
    title: 'This form has expired',
    message: `The page you sent it from is too old or came from another site. ${next}`,
    ...(link ? { link } : {}),
    requestId: ctx.requestId,
  });
}

/** The browser's Gatehouse session, when its cookie names a live one. */
export async function currentSession(b: BrowserDeps, req: RequestContext['req']) {
  const id = readSessionCookie(req.headers.cookie, b.cookie.name);
  if (id === null) return null;
  const r = await b.sessions.resolve(id);
  return r === null ? null : { id, ...r };
}

const GENERIC_FAILURE = 'The username or password is incorrect.';

/**
 * GET/POST /auth/sign-in and /auth/sign-out (SPEC §7). Everything a form
 * posts is checked twice against forgery: the browser's fetch metadata and
 * Origin must say it came from this origin, and its `csrf` field must be the
 * one stored with its flow (sign-in) or its session (sign-out). A refused
 * form changes nothing.
 */
export function signInHandlers(deps: IssuerDeps, b: BrowserDeps): { signIn: Record<string, LocalHandler>; signOut: Record<string, LocalHandler> } {
  const current = (ctx: RequestContext) => currentSession(b, ctx.req);
  const refuseForm = (ctx: RequestContext, res: ServerResponse, reason: string) =>
    refuseExpiredForm(b, ctx, res, reason, 'Go back to the sign-in page and try again.', { href: '/auth/sign-in', text: 'Back to sign-in' });
  const form = (
    res: ServerResponse,
    status: number,
    flowId: string,
    csrf: string,
    extra: { username?: string; error?: string; retryAfter?: number; client?: unknown } = {},
    headers: Record<string, string> = {},
    formAction: readonly string[] = [],
  ) => b.page(res, status, 'sign-in', { flow: flowId, csrf, ...extra }, headers, formAction);
  /** OAuth: "to continue to <client>" on the form */
  const clientOf = (flow: FlowRecord) => (typeof flow.data?.client === 'string' ? { client: flow.data.client } : {});
  /** OAuth: the sign-in post may end at the client's redirect URI (no consent page), and Chromium applies form-action to that redirect */
  const formActionOf = (flow: FlowRecord): string[] =>
    Array.isArray(flow.data?.formAction) ? flow.data.formAction.filter((v): v is string => typeof v === 'string') : [];
  const redirect = (res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}) => {
    res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0, ...headers });
    res.end();
  };

  const signIn: Record<string, LocalHandler> = {
    GET: async (ctx, res) => {
      const flowId = new URLSearchParams(ctx.query.slice(1)).get('flow') ?? undefined;
      const signedIn = await current(ctx);
      const flow = await b.flows.get(flowId);
      if (signedIn && !(flow && flow.data?.reauth === true)) {
        // already signed in: continue the flow it was sent with (unless it asks for a fresh sign-in: OAuth prompt=login, max_age), else say who is signed in
        if (flow && flowId !== undefined) {
          await b.flows.finish(flowId);
          return redirect(res, flow.returnTo);
        }
        return b.page(res, 200, 'signed-in', { user: signedIn.record.sub, csrf: signedIn.record.csrf });
      }
      if (flow && flowId !== undefined) return form(res, 200, flowId, flow.csrf, clientOf(flow), {}, formActionOf(flow));
      const fresh = await b.flows.start('/');
      return form(res, 200, fresh.id, fresh.flow.csrf);
    },
    POST: async (ctx, res) => {
      const cross = crossSiteReason(ctx.req, b.publicOrigin);
      if (cross) return refuseForm(ctx, res, `csrf_${cross}`);
      const p = await readParams(ctx.req, BODY_LIMIT);
      const flow = await b.flows.get(p.flow);
      if (!flow || p.csrf !== flow.csrf) return refuseForm(ctx, res, 'csrf_token');
      const flowId = p.flow as string;
      let user;
      try {
        user = await authenticateUser(deps, ctx, p.username, p.password, false);
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        ctx.reason = err.reason;
        if (err.code === 'too_many_requests') {
          const wait = err.headers['retry-after'] ?? '60';
          return form(
            res,
            429,
            flowId,
            flow.csrf,
            { ...(p.username !== undefined ? { username: p.username } : {}), retryAfter: Number(wait), ...clientOf(flow) },
            { 'retry-after': wait },
            formActionOf(flow),
          );
        }
        if (err.code === 'invalid_credentials' || err.code === 'invalid_request')
          return form(res, 401, flowId, flow.csrf, {
            ...(p.username !== undefined ? { username: p.username } : {}),
            error: GENERIC_FAILURE,
            ...clientOf(flow),
          });
        throw err;
      }
      // a new session id at every sign-in; the one this browser had ends
      const old = readSessionCookie(ctx.req.headers.cookie, b.cookie.name);
      if (old !== null) await endSession(deps, b, old);
      const { sid } = await startLoginSession(deps, user);
      const { id } = await b.sessions.create(user.username, sid);
      const done = (await b.flows.finish(flowId)) ?? flow;
      ctx.reason = 'sign_in';
      deps.logger.info({ reqId: ctx.requestId, sub: user.username, sid }, 'signed in');
      redirect(res, done.returnTo, { 'set-cookie': sessionCookie(b.cookie, id, b.absoluteTtlMs / 1000) });
    },
  };

  const signOut: Record<string, LocalHandler> = {
    GET: async (ctx, res) => {
      const signedIn = await current(ctx);
      if (!signedIn) return redirect(res, '/auth/sign-in');
      b.page(res, 200, 'sign-out', { user: signedIn.record.sub, csrf: signedIn.record.csrf });
    },
    POST: async (ctx, res) => {
      const cross = crossSiteReason(ctx.req, b.publicOrigin);
      if (cross) return refuseForm(ctx, res, `csrf_${cross}`);
      const p = await readParams(ctx.req, BODY_LIMIT);
      const id = readSessionCookie(ctx.req.headers.cookie, b.cookie.name);
      const signedIn = id === null ? null : await b.sessions.resolve(id);
      if (id !== null && signedIn) {
        if (p.csrf !== signedIn.record.csrf) return refuseForm(ctx, res, 'csrf_token');
        await endSession(deps, b, id);
        ctx.reason = 'sign_out';
        deps.logger.info({ reqId: ctx.requestId, sub: signedIn.record.sub, sid: signedIn.record.sid }, 'signed out');
      }
      redirect(res, '/auth/sign-in', { 'set-cookie': clearedCookie(b.cookie) });
    },
  };
  return { signIn, signOut };
}

/**
 * Ends a browser session everywhere: its record, its login session (`sid`),
 * which every instance's revocation mirror sees within 1 s, and the login
 * sessions OAuth clients started from it (their access and refresh tokens).
 */
export async function endSession(deps: IssuerDeps, b: BrowserDeps, id: string): Promise<void> {
  const record = await b.sessions.end(id);
  if (record) await endLoginSession(deps, record.sid);
}

/** Revokes a browser session's login session and every client login session linked to it. */
export async function endLoginSession(deps: IssuerDeps, sid: string): Promise<void> {
  const ttl = seconds(deps.issuer.refreshTokenTtlMs);
  await revokeFamily(deps.store, deps, sid, ttl);
  for (const linked of await new OAuthRecords(deps.store).linkedFamilies(sid)) await revokeFamily(deps.store, deps, linked, ttl);
}
