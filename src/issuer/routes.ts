import type { AuthRule } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { readJsonObject, readParams } from '../http/body.js';
import { sendJson } from '../http/respond.js';
import type { CompiledRoute, LocalHandler } from '../pipeline/context.js';
import { builtinRoute } from '../pipeline/match.js';
import { BODY_LIMIT, NO_STORE, type IssuerDeps } from './deps.js';
import { jwks, openidConfiguration } from './discovery.js';
import { metadataPaths } from './oauth/metadata.js';
import { login } from './login.js';
import { refresh } from './refresh-grant.js';
import { logout, oauthRevoke, profile } from './session.js';
import { signInHandlers, type BrowserDeps } from './sign-in.js';
import { authorizeHandlers, CONSENT_PATH, CONTINUE_PATH } from './oauth/authorize.js';
import { endSessionHandlers, LOGOUT_PATH } from './oauth/end-session.js';
import { clientOrigins, openCors, preflight, withCors } from './oauth/cors.js';
import { OAuthRecords } from './oauth/records.js';
import { tokenEndpoint } from './oauth/token-endpoint.js';
import { userinfo } from './oauth/userinfo.js';
import type { TokenResponse } from './token-response.js';

const PUBLIC: AuthRule = { mode: 'public', roles: [], scopes: [], claims: {} };
const BEARER: AuthRule = { mode: 'required', roles: [], scopes: [], claims: {} };

const optionalString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * SPEC §3: Gatehouse's own token service as built-in routes. They come first
 * in the route table and run through the same stages as every request:
 * `public` endpoints take credentials in their body, `required` ones
 * (logout, profile) get the caller's verified, unrevoked token from the
 * stages. All state (refresh families, failure counters, revocations) lives
 * in the store, so an instance holds nothing another instance would need.
 */
export function issuerRoutes(deps: IssuerDeps, browser: BrowserDeps | null = null): CompiledRoute[] {
  /** Counts each endpoint's outcome (gatehouse_token_requests_total). */
  const counted =
    (path: string, handler: LocalHandler): LocalHandler =>
    async (ctx, res) => {
      try {
        await handler(ctx, res);
        deps.countRequest(path, 'ok');
      } catch (err) {
        deps.countRequest(path, err instanceof GatewayError ? err.reason : 'error');
        throw err;
      }
    };
  const route = (path: string, auth: AuthRule, handlers: Record<string, LocalHandler>, methods: ReadonlySet<string> | null = null): CompiledRoute =>
    builtinRoute(`gatehouse:${path}`, path, auth, Object.fromEntries(Object.entries(handlers).map(([m, h]) => [m, counted(path, h)])), methods);
  const tokens = (res: Parameters<LocalHandler>[1], body: TokenResponse) => sendJson(res, 200, body, NO_STORE);
  /** The JSON API's token responses: the access token under each configured name (SPEC §9); /oauth/token keeps RFC 6749's. */
  const fields = deps.issuer.tokenResponse.accessTokenFields;
  const apiTokens = (res: Parameters<LocalHandler>[1], body: TokenResponse) => {
    const { access_token, ...rest } = body;
    sendJson(res, 200, { ...Object.fromEntries(fields.map((f) => [f, access_token])), ...rest }, NO_STORE);
  };
  const loginHandler: LocalHandler = async (ctx, res) => {
    const body = await readJsonObject(ctx.req, BODY_LIMIT);
    apiTokens(res, await login(deps, ctx, body.username ?? body.email, body.password, optionalString(body.scope), false));
  };
  const refreshWith = async (ctx: Parameters<LocalHandler>[0], res: Parameters<LocalHandler>[1], body: Record<string, unknown>) => {
    // SPEC §3: the JSON API answers a bad refresh token 401 (the table's jsonApiStatus), /oauth/token 400.
    const result = await refresh(deps, ctx, body.refresh_token ?? body.refreshToken, optionalString(body.scope)).catch((err: unknown) => {
      throw err instanceof GatewayError ? err.forJsonApi() : err;
    });
    apiTokens(res, result);
  };
  const refreshHandler: LocalHandler = async (ctx, res) => refreshWith(ctx, res, await readJsonObject(ctx.req, BODY_LIMIT));
  /** An extra login path (e.g. POST /token): a body with a refresh token and no password is a refresh, as such APIs do. */
  const loginOrRefresh: LocalHandler = async (ctx, res) => {
    const body = await readJsonObject(ctx.req, BODY_LIMIT);
    if (body.password === undefined && (body.refresh_token !== undefined || body.refreshToken !== undefined)) return refreshWith(ctx, res, body);
    apiTokens(res, await login(deps, ctx, body.username ?? body.email, body.password, optionalString(body.scope), false));
  };
  // OIDC Discovery §4 and RFC 8414 §3: both documents, where each spec puts them for this issuer (a path issuer moves both)
  const where = metadataPaths(deps.issuer.iss);
  const discoveryRoutes = [...new Set(['/.well-known/openid-configuration', where.openid, where.oauth])];
  const extra = deps.issuer.endpoints;
  const extraRoutes = [
    ...extra.login.map((p) => route(p, PUBLIC, { POST: loginOrRefresh })),
    ...extra.refresh.filter((p) => !extra.login.includes(p)).map((p) => route(p, PUBLIC, { POST: refreshHandler })),
    ...extra.profile.map((p) => route(p, BEARER, { GET: (ctx, res) => profile(deps, ctx, res) })),
  ];

  const pages = browser ? signInHandlers(deps, browser) : null;
  // SPEC §8: the OAuth provider; its code flow and end-session endpoint need the sign-in pages
  const clients = new Map(deps.issuer.clients.map((c) => [c.id, c]));
  const provider = browser ? { deps, browser, clients, records: new OAuthRecords(deps.store) } : null;
  const code = provider !== null && deps.issuer.grants.includes('authorization_code') ? authorizeHandlers(provider) : null;
  const features = { browser: provider !== null };
  // browser apps call these themselves: CORS for the registered clients' origins (preflights need no token, so they come first)
  const origins = clientOrigins(deps.issuer.clients);
  const userinfoHandler = withCors(origins, (ctx, res) => userinfo(deps, ctx, res));
  const corsPaths = ['/oauth/token', '/oauth/revoke', ...(code ? ['/oauth/userinfo'] : [])];
  return [
    ...corsPaths.map((p) => route(p, PUBLIC, { OPTIONS: preflight(origins) }, new Set(['OPTIONS']))),
    ...(pages ? [route('/auth/sign-in', PUBLIC, pages.signIn), route('/auth/sign-out', PUBLIC, pages.signOut)] : []),
    ...(code
      ? [
          route('/oauth/authorize', PUBLIC, code.authorize),
          route(CONTINUE_PATH, PUBLIC, code.resume),
          route(CONSENT_PATH, PUBLIC, code.consent),
          route('/oauth/userinfo', BEARER, { GET: userinfoHandler, POST: userinfoHandler }),
        ]
      : []),
    ...(provider ? [route(LOGOUT_PATH, PUBLIC, endSessionHandlers(provider))] : []),
    route('/auth/login', PUBLIC, { POST: loginHandler }),
    route('/auth/refresh', PUBLIC, { POST: refreshHandler }),
    route('/auth/logout', BEARER, { POST: (ctx, res) => logout(deps, ctx, res) }),
    route('/auth/profile', BEARER, { GET: (ctx, res) => profile(deps, ctx, res) }),
    route('/oauth/token', PUBLIC, {
      POST: withCors(origins, async (ctx, res) =>
        tokens(res, await tokenEndpoint(deps, clients, code ? provider!.records : null, ctx, await readParams(ctx.req, BODY_LIMIT))),
      ),
    }),
    route('/oauth/revoke', PUBLIC, { POST: withCors(origins, (ctx, res) => oauthRevoke(deps, clients, ctx, res)) }),
    route('/.well-known/jwks.json', PUBLIC, { GET: openCors((_ctx, res) => jwks(deps, res)) }),
    ...discoveryRoutes.map((p) => route(p, PUBLIC, { GET: openCors((_ctx, res) => openidConfiguration(deps, res, features)) })),
    ...extraRoutes,
  ];
}
