import type { BlockList } from 'node:net';
import type { RouteConfig } from '../config/schema.js';
import type { RequestContext } from '../pipeline/context.js';
import type { VerifiedToken } from '../tokens/verifier.js';
import { isTrusted, plainIp } from './client-address.js';
import { stripCookies } from '../http/cookies.js';
import { HOP_BY_HOP, isManaged } from './header-sets.js';
import { identityValue, type IdentityPlan } from './identity.js';

/** What shaping a request for the upstream needs. */
export interface UpstreamRequestDeps {
  /** the session cookie's name: never sent upstream (the app's own cookies are) */
  readonly sessionCookie: string | null;
  readonly identity: IdentityPlan;
  readonly trusted: BlockList;
  readonly anyTrusted: boolean;
}

/** The parts of a request context the upstream request is built from: an admitted request on a proxied route. */
export type ProxiedContext = Pick<RequestContext, 'req' | 'requestId' | 'path' | 'query' | 'identity' | 'clientIp' | 'host' | 'credential' | 'token'>;

/**
 * The header list sent upstream (SPEC §5.7), built from scratch rather than
 * edited, so nothing a client sends can survive by accident:
 * - hop-by-hop headers and every header named in Connection are dropped, but
 *   that can only remove client headers: Gatehouse's own are added afterwards
 *   (SECURITY.md P04);
 * - client copies of identity headers are dropped in any case and with "_"
 *   spelled for "-" (P01-P03), as are every X-Forwarded-* header, Forwarded,
 *   X-Real-IP and the other client-address headers, and the URL-override
 *   headers (P05-P06, X01-X05; header-sets.ts has the lists);
 * - Gatehouse sets X-Forwarded-For (appended to a trusted proxy's),
 *   X-Forwarded-Proto and X-Forwarded-Host (a trusted proxy's are believed),
 *   X-Forwarded-Prefix with stripPrefix, X-Real-IP (the client address after
 *   the trusted-proxy walk) and X-Request-Id.
 */
export function upstreamHeaders(ctx: ProxiedContext, route: RouteConfig, rt: UpstreamRequestDeps): string[] {
  const req = ctx.req;
  const raw = req.rawHeaders;
  const connection = req.headers.connection;
  const named = connection
    ? new Set(
        connection
          .toLowerCase()
          .split(',')
          .map((s) => s.trim()),
      )
    : null;
  const strip = rt.identity.strip;
  // forwardToken: false keeps bearer tokens away from upstreams on every route, public ones included.
  const dropAuth = !rt.identity.forwardToken;
  const preserveHost = route.preserveHost;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || isManaged(lower) || named?.has(lower)) continue;
    if (lower === 'host') {
      // the canonical spelling check-host settled on, never the client's (security round 2, H01)
      if (preserveHost && ctx.host !== '') out.push(name, ctx.host);
      continue;
    }
    if (lower === 'authorization' && (dropAuth || ctx.credential === 'session')) continue;
    if (lower === 'cookie' && rt.sessionCookie !== null) {
      const kept = stripCookies(raw[i + 1] as string, new Set([rt.sessionCookie]));
      if (kept !== null) out.push(name, kept);
      continue;
    }
    if (strip.has(lower) || (lower.includes('_') && strip.has(lower.replaceAll('_', '-')))) continue;
    out.push(name, raw[i + 1] as string);
  }
  const peer = plainIp(req.socket.remoteAddress);
  const peerTrusted = rt.anyTrusted && isTrusted(rt.trusted, peer);
  const priorXff = peerTrusted ? req.headers['x-forwarded-for'] : undefined;
  out.push('x-forwarded-for', priorXff ? `${priorXff}, ${peer}` : peer);
  const priorProto = peerTrusted ? req.headers['x-forwarded-proto'] : undefined;
  const ownProto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  out.push('x-forwarded-proto', typeof priorProto === 'string' && /^https?$/.test(priorProto) ? priorProto : ownProto);
  const priorHost = peerTrusted ? req.headers['x-forwarded-host'] : undefined;
  const host = typeof priorHost === 'string' ? priorHost : ctx.host;
  if (host) out.push('x-forwarded-host', host);
  if (route.stripPrefix) out.push('x-forwarded-prefix', route.stripPrefix);
  out.push('x-real-ip', ctx.clientIp);
  out.push('x-request-id', ctx.requestId);
  // a browser session: the upstream gets the access token minted for it, as a bearer client's token (SPEC §7)
  if (ctx.credential === 'session' && ctx.token !== null && !dropAuth) out.push('authorization', `Bearer ${ctx.token}`);
  if (ctx.identity) out.push(...identityPairs(rt.identity, ctx.identity));
  return out;
}

/**
 * The identity headers of a token under a plan. A cached token's are encoded
 * once and kept in its headerMemo, for the plan they were computed for (a
 * reload brings a new plan, and the memo is recomputed for it). Not a
 * WeakMap keyed by token: with a new token on every request, its upkeep in
 * the garbage collector cost ~2.7 µs a token (bench/identity-micro.mjs),
 * more than encoding the headers.
 */
function identityPairs(plan: IdentityPlan, token: VerifiedToken): readonly string[] {
  const memo = token.headerMemo;
  if (memo !== undefined && memo.plan === plan && memo.pairs !== null) return memo.pairs;
  const list: string[] = [];
  for (const h of plan.headers) {
    const value = identityValue(token, h.claim);
    if (value !== null) list.push(h.name, value);
  }
  if (memo !== undefined) {
    memo.plan = plan;
    memo.pairs = list;
  }
  return list;
}

/** The normalised path with the route's prefix removed, plus the original query. */
export function upstreamPath(ctx: ProxiedContext, route: RouteConfig): string {
  const prefix = route.stripPrefix;
  let path = ctx.path;
  if (prefix && (path === prefix || path.startsWith(prefix + '/'))) path = path.slice(prefix.length) || '/';
  return path + ctx.query;
}
