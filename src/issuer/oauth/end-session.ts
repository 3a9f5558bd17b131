import type { ServerResponse } from 'node:http';
import { compactVerify } from 'jose';
import type { OAuthClient } from '../../config/schema.js';
import { crossSiteReason } from '../../http/browser.js';
import { readParams } from '../../http/body.js';
import { clearedCookie } from '../../http/cookies.js';
import type { LocalHandler, RequestContext } from '../../pipeline/context.js';
import { BODY_LIMIT } from '../deps.js';
import { currentSession, endLoginSession, endSession, refuseExpiredForm } from '../sign-in.js';
import { formTarget, type ProviderDeps } from './authorize.js';

export const LOGOUT_PATH = '/oauth/logout';

/**
 * OpenID Connect RP-Initiated Logout 1.0 at /oauth/logout (SPEC §8). With a
 * valid `id_token_hint` (signed by this issuer; it may have expired) the
 * session it names ends at once and the browser goes to the
 * `post_logout_redirect_uri` (exactly one the client registered) with
 * `state`. Without one, anyone could link a user here, so a confirmation
 * page asks first, and its form carries the session's csrf token. A
 * post-logout URI that is not registered is never redirected to.
 */
export function endSessionHandlers(p: ProviderDeps): Record<string, LocalHandler> {
  const { deps, browser: b, clients, records } = p;
  const badRequest = (ctx: RequestContext, res: ServerResponse, reason: string, message: string) => {
    ctx.reason = reason;
    b.page(res, 400, 'error', { status: 400, title: 'This sign-out link is not valid', message, requestId: ctx.requestId });
  };
  const go = (res: ServerResponse, target: string, status: number, signedOut: boolean) => {
    res.writeHead(status, {
      location: target,
      'cache-control': 'no-store',
      'content-length': 0,
      ...(signedOut ? { 'set-cookie': clearedCookie(b.cookie) } : {}),
    });
    res.end();
  };

  /** The claims of an ID token this issuer signed (expired or not), or null. */
  const readHint = async (token: string): Promise<{ sub: string; aud: string; sid: string | null } | null> => {
    try {
      const { payload, protectedHeader } = await compactVerify(token, deps.self.getKey as Parameters<typeof compactVerify>[1], {
        algorithms: deps.self.algorithms,
      });
      if (protectedHeader.typ !== 'JWT') return null;
      const c = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
      const aud = Array.isArray(c.aud) && c.aud.length === 1 ? c.aud[0] : c.aud;
      if (c.iss !== deps.issuer.iss || typeof c.sub !== 'string' || typeof aud !== 'string') return null;
      return { sub: c.sub, aud, sid: typeof c.sid === 'string' ? c.sid : null };
    } catch {
      return null;
    }
  };

  const start: LocalHandler = async (ctx, res) => {
    const q = ctx.req.method === 'POST' ? await readParams(ctx.req, BODY_LIMIT) : Object.fromEntries(new URLSearchParams(ctx.query.slice(1)));
    if (q.csrf !== undefined && q.request !== undefined) return confirm(ctx, res, q);
    const hint = q.id_token_hint === undefined ? null : await readHint(q.id_token_hint);
    if (q.id_token_hint !== undefined && hint === null)
      return badRequest(ctx, res, 'logout_bad_hint', 'The application sent an ID token this sign-in service did not issue. Go back to the application.');
    const clientId = q.client_id ?? hint?.aud;
    if (q.client_id !== undefined && hint !== null && q.client_id !== hint.aud)
      return badRequest(ctx, res, 'logout_client_mismatch', 'The application’s name does not match its ID token. Go back to the application.');
    const client: OAuthClient | undefined = clientId === undefined ? undefined : clients.get(clientId);
    if (clientId !== undefined && !client) return badRequest(ctx, res, 'logout_unknown_client', 'The link names an application that is not registered.');
    let target = '/auth/sign-in';
    if (q.post_logout_redirect_uri !== undefined) {
      if (!client || !client.postLogoutRedirectUris.includes(q.post_logout_redirect_uri))
        return badRequest(
          ctx,
          res,
          'logout_bad_redirect_uri',
          'The address to return to after signing out is not one registered for this application, so you are not sent there.',
        );
      const url = new URL(q.post_logout_redirect_uri);
      if (q.state !== undefined) url.searchParams.append('state', q.state);
      target = url.href;
    }
    const session = await currentSession(b, ctx.req);
    if (hint) {
      // the session the ID token names ends everywhere; this browser's too when it is the same user's
      if (hint.sid !== null) await endLoginSession(deps, hint.sid);
      if (session && session.record.sub === hint.sub) await endSession(deps, b, session.id);
      ctx.reason = 'oauth_logout';
      deps.logger.info({ reqId: ctx.requestId, sub: hint.sub, sid: hint.sid, client: client?.id }, 'signed out (end-session endpoint)');
      return go(res, target, 302, session !== null && session.record.sub === hint.sub);
    }
    if (!session) {
      ctx.reason = 'oauth_logout_no_session';
      return go(res, target, 302, false);
    }
    const id = await records.saveLogout(target);
    ctx.reason = 'oauth_logout_confirm';
    const formAction = target.startsWith('/') ? [] : [formTarget(target)];
    b.page(
      res,
      200,
      'sign-out',
      { csrf: session.record.csrf, user: session.record.sub, action: LOGOUT_PATH, request: id, ...(client ? { client: client.name } : {}) },
      {},
      formAction,
    );
  };

  const confirm = async (ctx: RequestContext, res: ServerResponse, form: Record<string, string>) => {
    const cross = crossSiteReason(ctx.req, b.publicOrigin);
    const session = await currentSession(b, ctx.req);
    const id = form.request as string;
    const target = cross ? null : await records.logoutTarget(id);
    if (cross || target === null || !session || form.csrf !== session.record.csrf) {
      return refuseExpiredForm(b, ctx, res, cross ? `csrf_${cross}` : 'logout_form_invalid', 'Nothing was changed.');
    }
    await records.finishLogout(id);
    await endSession(deps, b, session.id);
    ctx.reason = 'oauth_logout';
    deps.logger.info({ reqId: ctx.requestId, sub: session.record.sub, sid: session.record.sid }, 'signed out (end-session endpoint)');
    go(res, target, 303, true);
  };

  return { GET: start, POST: start };
}
