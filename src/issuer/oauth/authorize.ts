import type { ServerResponse } from 'node:http';
import type { OAuthClient } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import { crossSiteReason } from '../../http/browser.js';
import { readParams } from '../../http/body.js';
import type { LocalHandler, RequestContext } from '../../pipeline/context.js';
import { newId } from '../../tokens/refresh.js';
import { BODY_LIMIT, seconds, type IssuerDeps } from '../deps.js';
import { currentSession, refuseExpiredForm, type BrowserDeps } from '../sign-in.js';
import { checkChallenge } from './pkce.js';
import type { AuthorizationRequest, OAuthRecords } from './records.js';
import { matchRedirectUri } from './redirect-uri.js';
import { requestedScopes, userScopes } from './scopes.js';

export const CONTINUE_PATH = '/oauth/authorize/continue';
export const CONSENT_PATH = '/oauth/authorize/consent';

/** What the authorization endpoint works with (SPEC §8). */
export interface ProviderDeps {
  readonly deps: IssuerDeps;
  readonly browser: BrowserDeps;
  readonly clients: ReadonlyMap<string, OAuthClient>;
  readonly records: OAuthRecords;
}

/** The consent page's words for the standard scopes; any other scope is shown by its name. */
const SCOPE_WORDS: Readonly<Record<string, string>> = {
  openid: 'Know who you are on this site',
  profile: 'See your name and profile details',
  email: 'See your email address',
  offline_access: 'Stay connected to your account while you are away',
};

const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);

/**
 * GET /oauth/authorize, its continuation after sign-in, and the consent form
 * (SPEC §8, RFC 6749 §4.1, OAuth 2.1 §4.1, OIDC Core §3.1.2).
 *
 * Until the client and its redirect URI are known to match a registration,
 * nothing is redirected: the user sees an error page (RFC 6749 §4.1.2.1, an
 * open redirector otherwise). After that every refusal goes back to the
 * client as `error`, `state` and `iss` (RFC 9207). The checked request is
 * stored server-side; only its random id travels through sign-in and consent,
 * so no step after the first can change what was asked for.
 */
export function authorizeHandlers(p: ProviderDeps): {
  authorize: Record<string, LocalHandler>;
  resume: Record<string, LocalHandler>;
  consent: Record<string, LocalHandler>;
} {
  const { deps, browser: b, clients, records } = p;
  const iss = deps.issuer.iss;

  const errorPage = (ctx: RequestContext, res: ServerResponse, status: number, reason: string, title: string, message: string) => {
    ctx.reason = reason;
    b.page(res, status, 'error', { status, title, message, requestId: ctx.requestId });
  };
  /** RFC 6749 §4.1.2 / §4.1.2.1: back to the client, with the issuer (RFC 9207) */
  const toClient = (res: ServerResponse, redirectUri: string, params: Record<string, string | undefined>, status = 302) => {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries({ ...params, iss })) if (v !== undefined) url.searchParams.append(k, v);
    res.writeHead(status, { location: url.href, 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  };
  const refuse = (ctx: RequestContext, res: ServerResponse, r: Pick<AuthorizationRequest, 'redirectUri' | 'state'>, error: string, description: string) => {
    ctx.reason = `authorize_${error}`;
    toClient(res, r.redirectUri, { error, error_description: description, state: r.state });
  };

  /** Signed in (recently enough), consent given or not needed: a code goes back to the client. */
  const proceed = async (ctx: RequestContext, res: ServerResponse, id: string, request: AuthorizationRequest, status = 302): Promise<void> => {
    const client = clients.get(request.clientId);
    if (!client)
      return errorPage(ctx, res, 400, 'authorize_client_gone', 'This application is no longer registered', 'Go back to the application and try again.');
    const session = await currentSession(b, ctx.req);
    const user = session ? deps.users?.get(session.record.sub) : undefined;
    const tooOld =
      session !== null &&
      ((request.prompt.includes('login') && session.record.createdAt < request.createdAt) ||
        (request.maxAge !== undefined && Date.now() - session.record.createdAt > request.maxAge * 1000));
    if (!session || !user || tooOld) {
      if (request.prompt.includes('none')) {
        await records.finishRequest(id);
        return refuse(ctx, res, request, 'login_required', 'The user is not signed in');
      }
      const flow = await b.flows.start(`${CONTINUE_PATH}?request=${id}`, {
        client: client.name,
        reauth: tooOld,
        formAction: [formTarget(request.redirectUri)],
      });
      ctx.reason = 'authorize_sign_in';
      res.writeHead(302, { location: `/auth/sign-in?flow=${flow.id}`, 'cache-control': 'no-store', 'content-length': 0 });
      res.end();
      return;
    }
    const scopes = userScopes(request.scopes, user.scope);
    if (client.consent) {
      const agreed = await records.consent(user.username, client.id);
      if (request.prompt.includes('consent') || !scopes.every((s) => agreed.includes(s))) {
        if (request.prompt.includes('none')) {
          await records.finishRequest(id);
          return refuse(ctx, res, request, 'consent_required', 'The user has not agreed to this request');
        }
        const csrf = newId();
        await records.saveRequest({ ...request, consentFor: user.username, csrf }, id);
        ctx.reason = 'authorize_consent';
        return b.page(
          res,
          200,
          'consent',
          {
            client: client.name,
            user: user.username,
            scopes: scopes.map((s) => ({ name: s, description: SCOPE_WORDS[s] ?? 'Act on your behalf with this permission' })),
            csrf,
            request: id,
            action: CONSENT_PATH,
          },
          {},
          [formTarget(request.redirectUri)],
        );
      }
    }
    if ((await records.finishRequest(id)) === null) return expired(ctx, res);
    const code = await records.issueCode(
      {
        clientId: client.id,
        redirectUri: request.redirectUri,
        challenge: request.challenge,
        sub: user.username,
        scopes,
        nonce: request.nonce,
        authTime: Math.floor(session.record.createdAt / 1000),
        sessionSid: session.record.sid,
        familySid: newId(),
        expiresAt: Date.now() + deps.issuer.authorizationCodeTtlMs,
      },
      Math.ceil(deps.issuer.authorizationCodeTtlMs / 1000),
      seconds(deps.issuer.refreshTokenTtlMs),
    );
    ctx.reason = 'authorize_code';
    deps.logger.info({ reqId: ctx.requestId, sub: user.username, client: client.id }, 'authorization code issued');
    toClient(res, request.redirectUri, { code, state: request.state }, status);
  };

  const expired = (ctx: RequestContext, res: ServerResponse) =>
    errorPage(ctx, res, 400, 'authorize_request_expired', 'This sign-in request has expired', 'Go back to the application and start again.');

  const authorize: LocalHandler = async (ctx, res) => {
    const q = ctx.req.method === 'POST' ? new URLSearchParams(await readParams(ctx.req, BODY_LIMIT)) : new URLSearchParams(ctx.query.slice(1));
    const one = (name: string): string | undefined => q.get(name) ?? undefined;
    const repeated = [...new Set([...q.keys()].filter((k) => q.getAll(k).length > 1))];
    const clientId = one('client_id');
    const client = clientId === undefined ? undefined : clients.get(clientId);
    if (!client || q.getAll('client_id').length > 1)
      return errorPage(
        ctx,
        res,
        400,
        clientId === undefined ? 'authorize_no_client' : 'authorize_unknown_client',
        'This application is not registered',
        'The link that brought you here names an application this sign-in service does not know. Go back and try again, or tell the application’s owner.',
      );
    const redirectUri = q.getAll('redirect_uri').length === 1 ? matchRedirectUri(client.redirectUris, one('redirect_uri')) : null;
    if (redirectUri === null)
      return errorPage(
        ctx,
        res,
        400,
        'authorize_bad_redirect_uri',
        'This sign-in link is not valid',
        `The return address in the link is not one registered for ${client.name}, so you are not sent there. Go back and try again, or tell the application’s owner.`,
      );
    const state = q.getAll('state').length === 1 ? one('state') : undefined;
    const back = { redirectUri, state };
    if (repeated.length > 0) return refuse(ctx, res, back, 'invalid_request', `Parameters may appear only once: ${repeated.join(', ')}`);
    if (q.has('request')) return refuse(ctx, res, back, 'request_not_supported', 'Request objects are not supported');
    if (q.has('request_uri')) return refuse(ctx, res, back, 'request_uri_not_supported', 'request_uri is not supported');
    const responseType = one('response_type');
    if (responseType === undefined) return refuse(ctx, res, back, 'invalid_request', 'response_type is required');
    if (responseType !== 'code') return refuse(ctx, res, back, 'unsupported_response_type', 'Only response_type=code is supported');
    const mode = one('response_mode');
    if (mode !== undefined && mode !== 'query') return refuse(ctx, res, back, 'invalid_request', 'Only response_mode=query is supported');
    if (!client.grants.includes('authorization_code'))
      return refuse(ctx, res, back, 'unauthorized_client', 'This client may not use the authorization code grant');
    const pkce = checkChallenge(one('code_challenge'), one('code_challenge_method'));
    if (pkce) return refuse(ctx, res, back, 'invalid_request', pkce);
    let scopes: string[];
    try {
      scopes = requestedScopes(one('scope'), client.scopes);
    } catch (err) {
      if (err instanceof GatewayError) return refuse(ctx, res, back, 'invalid_scope', err.description);
      throw err;
    }
    const prompt = (one('prompt') ?? '').split(' ').filter(Boolean);
    if (prompt.some((v) => !PROMPTS.has(v)) || (prompt.includes('none') && prompt.length > 1))
      return refuse(ctx, res, back, 'invalid_request', 'prompt must be none, or any of login, consent, select_account');
    const maxAgeText = one('max_age');
    if (maxAgeText !== undefined && !/^\d{1,9}$/.test(maxAgeText)) return refuse(ctx, res, back, 'invalid_request', 'max_age must be a number of seconds');
    const nonce = one('nonce');
    if (nonce !== undefined && nonce.length > 512) return refuse(ctx, res, back, 'invalid_request', 'nonce is longer than 512 characters');
    if (state !== undefined && state.length > 2048) return refuse(ctx, res, back, 'invalid_request', 'state is longer than 2048 characters');
    const request: AuthorizationRequest = {
      clientId: client.id,
      redirectUri,
      state,
      challenge: one('code_challenge') as string,
      scopes,
      nonce,
      // select_account: there is one account per browser session, so it means what login means
      prompt: prompt.map((v) => (v === 'select_account' ? 'login' : v)),
      maxAge: maxAgeText === undefined ? undefined : Number(maxAgeText),
      createdAt: Date.now(),
    };
    const id = await records.saveRequest(request);
    await proceed(ctx, res, id, request);
  };

  /** After the sign-in page: the same stored request, now with a session. */
  const resume: LocalHandler = async (ctx, res) => {
    const id = new URLSearchParams(ctx.query.slice(1)).get('request') ?? undefined;
    const request = await records.request(id);
    if (!request || id === undefined) return expired(ctx, res);
    // prompt=login was satisfied by the sign-in that brought the user here
    await proceed(ctx, res, id, { ...request, prompt: request.prompt.filter((v) => v !== 'login') });
  };

  const consent: LocalHandler = async (ctx, res) => {
    const cross = crossSiteReason(ctx.req, b.publicOrigin);
    const form = await readParams(ctx.req, BODY_LIMIT);
    const id = form.request;
    const request = cross ? null : await records.request(id);
    const session = await currentSession(b, ctx.req);
    if (cross || !request || id === undefined || request.csrf === undefined || form.csrf !== request.csrf || session?.record.sub !== request.consentFor) {
      // nothing is granted and nothing is redirected: a forged or stale form
      return refuseExpiredForm(b, ctx, res, cross ? `csrf_${cross}` : 'consent_form_invalid', 'Go back to the application and start again.');
    }
    if (form.decision !== 'allow') {
      await records.finishRequest(id);
      ctx.reason = 'consent_denied';
      return toClient(res, request.redirectUri, { error: 'access_denied', error_description: 'The user did not allow access', state: request.state }, 303);
    }
    const user = deps.users?.get(request.consentFor as string);
    if (user) await records.addConsent(user.username, request.clientId, userScopes(request.scopes, user.scope), seconds(deps.issuer.consentTtlMs));
    await proceed(ctx, res, id, { ...request, prompt: request.prompt.filter((v) => v !== 'consent' && v !== 'login') }, 303);
  };

  return { authorize: { GET: authorize, POST: authorize }, resume: { GET: resume }, consent: { POST: consent } };
}

/** A form's CSP form-action must allow the redirect that follows the post (Chromium applies it): the URI's origin, or its app scheme. */
export function formTarget(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
}
