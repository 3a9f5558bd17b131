import type { ServerResponse } from 'node:http';
import type { Metrics } from '../observe/metrics.js';
import { readBody, readJsonObject, readParams } from '../http/body.js';
import type { AuthRule } from '../config/schema.js';
import { GatewayError, invalidRequest, methodNotAllowed, storeUnavailable, tooManyRequests } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { BEARER_ONLY, admit } from '../pipeline/stages.js';
import type { RequestContext } from '../pipeline/context.js';
import type { CompiledRoute } from '../pipeline/match.js';
import { compilePattern } from '../config/path-pattern.js';
import { sendJson } from '../http/respond.js';
import type { Runtime } from '../gateway/runtime.js';
import type { RevocationStore, SessionStore } from '../store/types.js';
import { signAccessToken } from '../tokens/issue.js';
import { MAX_PASSWORD_BYTES, dummyHash, isWeakHash, verifyPassword } from '../tokens/passwords.js';
import { newId, signRefreshToken, verifyRefreshToken, type RefreshClaims } from '../tokens/refresh.js';
import type { User } from '../tokens/users.js';
import type { IssuerEntry } from '../tokens/verifier.js';

export interface TokenServiceDeps {
  current(): Runtime;
  store: RevocationStore & SessionStore;
  logger: Logger;
  metrics: Metrics;
}

const BODY_LIMIT = 16 * 1024;
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const PATHS = new Set(['/auth/login', '/auth/refresh', '/auth/logout', '/auth/profile', '/oauth/token', '/oauth/revoke', '/.well-known/jwks.json', '/.well-known/openid-configuration']);

const REQUIRED: AuthRule = { mode: 'required', roles: [], scopes: [], claims: {} };
/** The route Gatehouse's own bearer endpoints authenticate against. */
const SELF_ROUTE: CompiledRoute = {
  config: { name: 'token-service', match: { path: '/auth/**', methods: null, host: null }, upstreams: [], stripPrefix: null, timeoutMs: 0, websocket: false, preserveHost: false, auth: REQUIRED },
  name: 'token-service',
  pattern: compilePattern('/auth/**'),
  methods: null,
  host: null,
  wildcardHost: null,
};

/** One body for every refresh failure (SECURITY.md O10): unknown, expired, reused, revoked, wrong type. */
const invalidGrant = (reason: string) => new GatewayError('invalid_grant', reason, { headers: NO_STORE });
const badCredentials = (oauth: boolean, reason: string) =>
  new GatewayError(oauth ? 'invalid_grant' : 'invalid_credentials', reason, { description: 'The username or password is incorrect', headers: NO_STORE });

/** A refresh token this issuer signed, checked with the issuer's own keys and the configured size cap. */
const readRefresh = (rt: Runtime, self: IssuerEntry, token: string): Promise<RefreshClaims> =>
  verifyRefreshToken(token, self.getKey, { iss: self.iss, algorithms: self.algorithms, maxBytes: rt.config.verify.maxTokenBytes });

interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  scope?: string;
}

/**
 * SPEC §3: login, refresh with rotation and reuse detection, logout, profile,
 * the RFC 6749 token endpoint, RFC 7009 revocation, JWKS and discovery. All
 * state (refresh families, failure counters, revocations) lives in the store,
 * so an instance holds nothing another instance would need.
 */
export function createTokenService(deps: TokenServiceDeps): (ctx: RequestContext, res: ServerResponse) => false | Promise<boolean> {
  const { store, logger, metrics } = deps;
  const warnedWeak = new Set<string>();
  /** Login attempts whose password is still being checked, per throttle key: they count as failures until they are known not to be. */
  const checking = new Map<string, number>();
  const track = (keys: string[], delta: number) => {
    for (const k of keys) {
      const n = (checking.get(k) ?? 0) + delta;
      if (n > 0) checking.set(k, n);
      else checking.delete(k);
    }
  };
  const count = (endpoint: string, outcome: string) => metrics.tokenRequests.labels(endpoint, outcome).inc();

  /** Store failures while changing session state are 503: never "succeeded" when nothing was recorded (SECURITY.md F03-F04). */
  async function durable<T>(op: () => Promise<T>, what: string): Promise<T> {
    try {
      return await op();
    } catch (err) {
      metrics.storeErrors.labels('write').inc();
      logger.error({ err: (err as Error).message, op: what }, 'session store operation failed');
      throw storeUnavailable('store_write_failed');
    }
  }

  async function issue(rt: Runtime, user: User, sid: string, refreshJti: string, scope: string): Promise<TokenResponse> {
    const issuer = rt.config.issuer!;
    const key = rt.signingKeys[0]!;
    const accessTtl = Math.round(issuer.accessTokenTtlMs / 1000);
    const refreshTtl = Math.round(issuer.refreshTokenTtlMs / 1000);
    const extra: Record<string, unknown> = {};
    for (const claim of issuer.claims) {
      if (claim === 'roles' || claim === 'scope') continue;
      const v = user.fields[claim];
      if (v !== undefined) extra[claim] = v;
    }
    const { token } = await signAccessToken(key, { iss: issuer.iss, sub: user.username, audience: issuer.audience, ttlSeconds: accessTtl, roles: user.roles, scope, sid, extra });
    const refresh = await signRefreshToken(key, issuer.iss, { sub: user.username, jti: refreshJti, sid, exp: Math.floor(Date.now() / 1000) + refreshTtl, scope });
    return { access_token: token, token_type: 'Bearer', expires_in: accessTtl, refresh_token: refresh, refresh_expires_in: refreshTtl, ...(scope ? { scope } : {}) };
  }

  function grantedScope(user: User, requested: string | undefined, ceiling?: string): string {
    let allowed = user.scope.split(' ').filter(Boolean);
    if (ceiling !== undefined) {
      const c = new Set(ceiling.split(' '));
      allowed = allowed.filter((s) => c.has(s));
    }
    if (requested === undefined) return allowed.join(' ');
    const want = new Set(requested.split(' ').filter(Boolean));
    return allowed.filter((s) => want.has(s)).join(' ');
  }

  async function login(ctx: RequestContext, rt: Runtime, username: unknown, password: unknown, scope: string | undefined, oauth: boolean): Promise<TokenResponse> {
    if (typeof username !== 'string' || username.length === 0 || username.length > 256) throw invalidRequest('"username" is required (a string of at most 256 characters)', 'bad_username');
    if (typeof password !== 'string' || password.length === 0) throw invalidRequest('"password" is required', 'bad_password');
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw invalidRequest(`"password" is longer than ${MAX_PASSWORD_BYTES} bytes`, 'password_too_long');
    const { perUser, perIp, windowMs } = rt.config.issuer!.throttle;
    const userKey = `login:user:${username.normalize('NFC')}`;
    const ipKey = `login:ip:${ctx.clientIp}`;
    const [u, ip] = await durable(() => Promise.all([store.peek(userKey), store.peek(ipKey)]), 'throttle_peek');
    // Locked out: the same answer whatever the password (SECURITY.md O11), until the window ends.
    // Attempts still being checked count too, or a burst of parallel guesses would all pass this check before the first one failed.
    // While only in-flight attempts count, the stored window has not started yet: it will when they fail, so a whole window is the honest Retry-After.
    const window = Math.ceil(windowMs / 1000);
    const retryAfter = (c: { count: number; resetIn: number }) => (c.count > 0 ? c.resetIn : window);
    if (u.count + (checking.get(userKey) ?? 0) >= perUser) throw tooManyRequests(retryAfter(u), 'throttled_user');
    if (ip.count + (checking.get(ipKey) ?? 0) >= perIp) throw tooManyRequests(retryAfter(ip), 'throttled_ip');
    const user = rt.users?.get(username);
    track([userKey, ipKey], 1);
    let ok: boolean;
    try {
      // Unknown users cost one argon2 verification too (SECURITY.md O13-O14).
      ok = (await verifyPassword(user?.password ?? (await dummyHash()), password)) && user !== undefined;
      // recorded before the attempt stops counting as in flight, so there is no moment it counts as neither
      if (!ok) await durable(() => Promise.all([store.hit(userKey, window), store.hit(ipKey, window)]), 'throttle_hit');
    } finally {
      track([userKey, ipKey], -1);
    }
    if (!ok || !user) throw badCredentials(oauth, user ? 'wrong_password' : 'unknown_user');
    await durable(() => store.reset(userKey), 'throttle_reset');
    if (isWeakHash(user.password) && !warnedWeak.has(user.username)) {
      warnedWeak.add(user.username);
      logger.warn({ user: user.username }, 'password hash is weaker than argon2id m=19456,t=2,p=1: regenerate it with "gatehouse hash-password"');
    }
    const sid = newId();
    const jti = newId();
    const exp = Math.floor(Date.now() / 1000) + Math.round(rt.config.issuer!.refreshTokenTtlMs / 1000);
    await durable(() => store.createFamily(sid, user.username, jti, exp), 'create_family');
    ctx.reason = 'login';
    return issue(rt, user, sid, jti, grantedScope(user, scope));
  }

  async function checkRefresh(rt: Runtime, token: unknown): Promise<RefreshClaims> {
    if (typeof token !== 'string' || token.length === 0) throw invalidRequest('"refresh_token" is required', 'missing_refresh_token');
    const self = rt.self!;
    try {
      return await readRefresh(rt, self, token);
    } catch {
      throw invalidGrant('refresh_invalid');
    }
  }

  /**
   * Refresh tokens that fail verification (forged, tampered, random) count per client IP against `throttle.perIp`:
   * over the limit every refresh from that address is 429 until the window ends (SECURITY.md O07).
   */
  async function checkRefreshThrottled(ctx: RequestContext, rt: Runtime, token: unknown): Promise<RefreshClaims> {
    const { perIp, windowMs } = rt.config.issuer!.throttle;
    const ipKey = `refresh:ip:${ctx.clientIp}`;
    const ip = await durable(() => store.peek(ipKey), 'throttle_peek');
    if (ip.count >= perIp) throw tooManyRequests(ip.resetIn, 'throttled_refresh');
    try {
      return await checkRefresh(rt, token);
    } catch (err) {
      if (err instanceof GatewayError && err.reason === 'refresh_invalid') await durable(() => store.hit(ipKey, Math.ceil(windowMs / 1000)), 'throttle_hit');
      throw err;
    }
  }

  async function refresh(ctx: RequestContext, rt: Runtime, token: unknown, scope: string | undefined): Promise<TokenResponse> {
    // A store known to be down answers at once (the throttle below would otherwise wait for its command timeout).
    if (!store.state().ok) throw storeUnavailable('store_down');
    const claims = await checkRefreshThrottled(ctx, rt, token);
    if (store.check(claims)) throw invalidGrant('refresh_revoked');
    const user = rt.users?.get(claims.sub);
    if (!user) {
      await durable(() => store.revokeFamily(claims.sid, claims.exp), 'revoke_family');
      throw invalidGrant('refresh_user_gone');
    }
    const nextJti = newId();
    const exp = Math.floor(Date.now() / 1000) + Math.round(rt.config.issuer!.refreshTokenTtlMs / 1000);
    const result = await durable(() => store.rotateFamily(claims.sid, claims.jti, nextJti, exp), 'rotate');
    if (result !== 'rotated') {
      if (result === 'reused') logger.warn({ sub: claims.sub, sid: claims.sid }, 'refresh token reused: the whole login session was revoked (RFC 9700 §4.14.2)');
      throw invalidGrant(`refresh_${result}`);
    }
    ctx.reason = 'refresh';
    return issue(rt, user, claims.sid, nextJti, grantedScope(user, scope, claims.scope));
  }

  async function bearer(ctx: RequestContext, rt: Runtime): Promise<void> {
    ctx.route = SELF_ROUTE;
    await admit(ctx, { rt, store }, BEARER_ONLY);
  }

  /** RFC 7009 §2.2: the answer is 200 whether or not the token meant anything. */
  async function revokeAny(rt: Runtime, token: string): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const refreshTtl = Math.round(rt.config.issuer!.refreshTokenTtlMs / 1000);
    if (!rt.self) return;
    const asRefresh = await readRefresh(rt, rt.self, token).catch(() => null);
    if (asRefresh) {
      await durable(() => store.revokeFamily(asRefresh.sid, now + refreshTtl), 'revoke_family');
      return;
    }
    const asAccess = await Promise.resolve()
      .then(() => rt.verifier.verify(token))
      .catch(() => null);
    if (asAccess?.jti) await durable(() => store.revokeJti(asAccess.jti!, asAccess.exp), 'revoke_jti');
  }

  const handlers: Record<string, Record<string, (ctx: RequestContext, res: ServerResponse, rt: Runtime) => Promise<void>>> = {
    '/auth/login': {
      POST: async (ctx, res, rt) => {
        const body = await readJsonObject(ctx.req, BODY_LIMIT);
        const username = body.username ?? body.email;
        const tokens = await login(ctx, rt, username, body.password, typeof body.scope === 'string' ? body.scope : undefined, false);
        sendJson(res, 200, tokens, NO_STORE);
      },
    },
    '/auth/refresh': {
      POST: async (ctx, res, rt) => {
        const body = await readJsonObject(ctx.req, BODY_LIMIT);
        const tokens = await refresh(ctx, rt, body.refresh_token ?? body.refreshToken, typeof body.scope === 'string' ? body.scope : undefined).catch((err: unknown) => {
          throw err instanceof GatewayError ? err.forJsonApi() : err;
        });
        sendJson(res, 200, tokens, NO_STORE);
      },
    },
    '/auth/logout': {
      POST: async (ctx, res, rt) => {
        await bearer(ctx, rt);
        const id = ctx.identity!;
        const hasBody = ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length'] ?? '0') > 0;
        const body = hasBody ? await readJsonObject(ctx.req, BODY_LIMIT) : (await readBody(ctx.req, BODY_LIMIT), {});
        const now = Math.floor(Date.now() / 1000);
        const refreshTtl = Math.round(rt.config.issuer!.refreshTokenTtlMs / 1000);
        if (id.jti) await durable(() => store.revokeJti(id.jti!, id.exp), 'revoke_jti');
        if (id.sid) await durable(() => store.revokeFamily(id.sid!, now + refreshTtl), 'revoke_family');
        const rtoken = body.refresh_token ?? body.refreshToken;
        if (typeof rtoken === 'string' && rt.self) {
          const claims = await readRefresh(rt, rt.self, rtoken).catch(() => null);
          // Only the caller's own sessions: a foreign refresh token changes nothing (SECURITY.md O05).
          if (claims && claims.sub === id.sub) await durable(() => store.revokeFamily(claims.sid, now + refreshTtl), 'revoke_family');
        }
        ctx.reason = 'logout';
        res.writeHead(204, NO_STORE);
        res.end();
      },
    },
    '/auth/profile': {
      GET: async (ctx, res, rt) => {
        await bearer(ctx, rt);
        const id = ctx.identity!;
        const profile: Record<string, unknown> = { sub: id.sub, roles: id.roles, scope: id.scopes.join(' ') };
        for (const claim of rt.config.issuer!.claims) if (id.claims[claim] !== undefined && !(claim in profile)) profile[claim] = id.claims[claim];
        sendJson(res, 200, profile, { 'cache-control': 'no-store' });
      },
    },
    '/oauth/token': {
      POST: async (ctx, res, rt) => {
        const p = await readParams(ctx.req, BODY_LIMIT);
        let tokens: TokenResponse;
        if (p.grant_type === 'password') tokens = await login(ctx, rt, p.username, p.password, p.scope, true);
        else if (p.grant_type === 'refresh_token') tokens = await refresh(ctx, rt, p.refresh_token, p.scope);
        else if (p.grant_type === undefined) throw invalidRequest('"grant_type" is required', 'missing_grant_type');
        else throw new GatewayError('unsupported_grant_type', 'unsupported_grant_type', { description: 'Supported grant types: password, refresh_token', headers: NO_STORE });
        sendJson(res, 200, tokens, NO_STORE);
      },
    },
    '/oauth/revoke': {
      POST: async (ctx, res, rt) => {
        const p = await readParams(ctx.req, BODY_LIMIT);
        if (typeof p.token !== 'string' || p.token === '') throw invalidRequest('"token" is required', 'missing_token');
        if (!store.state().ok) throw storeUnavailable('store_down');
        await revokeAny(rt, p.token);
        ctx.reason = 'revoke';
        res.writeHead(200, { ...NO_STORE, 'content-length': 0 });
        res.end();
      },
    },
    '/.well-known/jwks.json': {
      GET: async (_ctx, res, rt) => sendJson(res, 200, { keys: rt.signingKeys.map((k) => k.publicJwk) }, { 'cache-control': 'public, max-age=300' }),
    },
    '/.well-known/openid-configuration': {
      GET: async (_ctx, res, rt) => {
        const iss = rt.config.issuer!.iss;
        const at = (path: string) => new URL(path, iss).href;
        sendJson(
          res,
          200,
          {
            issuer: iss,
            jwks_uri: at('/.well-known/jwks.json'),
            token_endpoint: at('/oauth/token'),
            revocation_endpoint: at('/oauth/revoke'),
            grant_types_supported: ['password', 'refresh_token'],
            response_types_supported: [],
            token_endpoint_auth_methods_supported: ['none'],
            revocation_endpoint_auth_methods_supported: ['none'],
            scopes_supported: [],
            claims_supported: ['sub', 'roles', 'scope', ...rt.config.issuer!.claims],
          },
          { 'cache-control': 'public, max-age=300' },
        );
      },
    },
  };

  // Not a token-service path: a plain false, so proxied requests never wait a microtask for it.
  return (ctx, res) => {
    const rt = deps.current();
    if (!rt.config.issuer || !PATHS.has(ctx.path)) return false;
    return serve(ctx, res, rt);
  };

  async function serve(ctx: RequestContext, res: ServerResponse, rt: Runtime): Promise<boolean> {
    // SPEC §5: every response carries X-Request-Id, successes (200/204) included.
    res.setHeader('x-request-id', ctx.requestId);
    const endpoint = handlers[ctx.path]!;
    const method = ctx.req.method ?? 'GET';
    const handler = endpoint[method] ?? (method === 'HEAD' ? endpoint.GET : undefined);
    if (!handler) throw methodNotAllowed(Object.keys(endpoint));
    try {
      await handler(ctx, res, rt);
      count(ctx.path, 'ok');
    } catch (err) {
      count(ctx.path, err instanceof GatewayError ? err.reason : 'error');
      throw err;
    }
    return true;
  }
}
