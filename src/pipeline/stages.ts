import { invalidRequest, invalidToken, missingToken, storeUnavailable } from '../errors.js';
import type { Runtime } from '../gateway/runtime.js';
import type { RevocationStore } from '../store/types.js';
import { authorize } from './authorize.js';
import type { RequestContext } from './context.js';
import { extractBearer } from './extract.js';
import { matchRoute } from './match.js';
import { normaliseTarget } from './normalise.js';

export interface StageDeps {
  rt: Runtime;
  store: RevocationStore;
  onStoreBypass?: () => void;
}

/** A stage either returns (possibly marking the request settled) or throws a GatewayError. */
type Stage = (ctx: RequestContext, deps: StageDeps) => void | Promise<void>;

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=-]+)(?::\d{1,5})?$/;

/** P17: exactly one Host (HTTP/1.1 requires it, RFC 9112 §3.2), no userinfo, no path. */
const checkRequest: Stage = (ctx) => {
  let hosts = 0;
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === 4 && (raw[i] as string).toLowerCase() === 'host') hosts++;
  const host = ctx.req.headers.host;
  if (hosts > 1) throw invalidRequest('More than one Host header', 'duplicate_host', true);
  if (hosts === 0 && ctx.req.httpVersion !== '1.0') throw invalidRequest('Missing Host header', 'missing_host', true);
  if (host !== undefined && !HOST.test(host)) throw invalidRequest('Malformed Host header', 'bad_host', true);
};

const normalise: Stage = (ctx) => {
  const t = normaliseTarget(ctx.req.url ?? '/');
  ctx.path = t.path;
  ctx.segments = t.segments;
  ctx.query = t.query;
};

const match: Stage = (ctx, { rt }) => matchRoute(rt.routes, ctx);

const extract: Stage = (ctx) => {
  const mode = ctx.route!.config.auth.mode;
  if (mode === 'public') {
    ctx.outcome = 'public';
    return;
  }
  const found = extractBearer(ctx.req.rawHeaders, ctx.query);
  if (found.kind === 'bearer') {
    ctx.token = found.token;
    return;
  }
  if (mode === 'optional') {
    ctx.outcome = 'anonymous';
    return;
  }
  throw missingToken(found.kind === 'none' ? 'no_token' : 'not_bearer');
};

const verify: Stage = (ctx, { rt }) => {
  if (ctx.token === null) return;
  const result = rt.verifier.verify(ctx.token);
  if (result instanceof Promise) {
    return result.then((v) => {
      ctx.identity = v;
    });
  }
  ctx.identity = result;
  return undefined;
};

/** SPEC §5.5: jti, the subject's cut-off and the login session, from the store's local view. */
const checkRevoked: Stage = (ctx, { store, rt, onStoreBypass }) => {
  const id = ctx.identity;
  if (!id) return;
  const state = store.state();
  if (!state.ok) {
    if (rt.config.revocation.onStoreError === 'deny') throw storeUnavailable(`store_down`);
    onStoreBypass?.();
  }
  const by = store.check(id);
  if (by) throw invalidToken(`revoked_${by}`, 'The access token has been revoked');
};

const authorizeStage: Stage = (ctx) => {
  if (!ctx.identity) return;
  authorize(ctx.route!.config.auth, ctx.identity);
  ctx.outcome = 'authenticated';
};

/** The request pipeline of STYLE.md, in order: PREPARE, then (unless Gatehouse answers itself) AUTHENTICATE. */
export const PREPARE: readonly Stage[] = [checkRequest, normalise];
export const AUTHENTICATE: readonly Stage[] = [match, extract, verify, checkRevoked, authorizeStage];
export const STAGES: readonly Stage[] = [...PREPARE, ...AUTHENTICATE];
/** Bearer authentication alone, for Gatehouse's own endpoints (logout, profile); the caller sets a `required` route. */
export const BEARER_ONLY: readonly Stage[] = [extract, verify, checkRevoked];

/**
 * Runs the stages in order; throws the first GatewayError. Only the caller
 * catches. Stays synchronous while every stage is (a cached token never
 * touches the event loop) and continues asynchronously from the first stage
 * that returns a promise.
 */
export function admit(ctx: RequestContext, deps: StageDeps, stages: readonly Stage[] = STAGES): void | Promise<void> {
  for (let i = 0; i < stages.length; i++) {
    const pending = (stages[i] as Stage)(ctx, deps);
    if (pending) return pending.then(() => admit(ctx, deps, stages.slice(i + 1)));
  }
  return undefined;
}
