import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { subjectCutoffTtl } from '../config/derived.js';
import type { GatehouseConfig } from '../config/schema.js';
import { asGatewayError, invalidRequest, methodNotAllowed, notFound } from '../errors.js';
import { readJsonObject } from '../http/body.js';
import { sendError, sendJson } from '../http/respond.js';
import { clusterMetrics } from '../observe/cluster-metrics.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { durable, revokeAccessToken, revokeFamily, type WriteDeps } from '../revocation/revoke.js';
import type { RevocationStore } from '../store/types.js';
import { verifyRefreshToken } from '../tokens/refresh.js';
import type { IssuerEntry, VerifiedToken } from '../tokens/verifier.js';
import { readinessProblems, type ReadinessView } from './readiness.js';

/** The parts of the current runtime the admin listener reads. */
export interface AdminView extends ReadinessView {
  readonly config: GatehouseConfig;
  readonly store: RevocationStore;
  readonly verifier: { verify(token: string): VerifiedToken | Promise<VerifiedToken> };
  readonly self: IssuerEntry | null;
}

export interface AdminDeps {
  current(): AdminView;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** shown by /readyz without making it fail: a refused reload, a refused users file edit */
  warnings?(): string[];
}

/**
 * The admin listener (SPEC §6). It has no authentication of its own: bind it
 * to loopback or a private interface only (the default is 127.0.0.1).
 * One error boundary: every failure below becomes one JSON error answer.
 */
export function createAdminServer(deps: AdminDeps): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/readyz') {
      const problems = readinessProblems(deps.current());
      const warnings = deps.warnings?.() ?? [];
      const extra = warnings.length > 0 ? { warnings } : {};
      return problems.length === 0
        ? sendJson(res, 200, { status: 'ready', ...extra })
        : sendJson(res, 503, { status: 'not_ready', reasons: problems, ...extra });
    }
    if (req.method === 'GET' && path === '/metrics') {
      // with workers, the primary sums every worker's registry; one process answers from its own
      const text = await (clusterMetrics() ?? deps.metrics.registry.metrics());
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/admin/revoke') {
      if (req.method !== 'POST') throw methodNotAllowed(['POST']);
      await revoke(deps, await readJsonObject(req, 64 * 1024));
      res.writeHead(204);
      res.end();
      return;
    }
    throw notFound('No such admin endpoint');
  };
  return createServer((req, res) => {
    const requestId = randomUUID();
    handle(req, res).catch((err: unknown) => {
      const gw = asGatewayError(err);
      if (gw.code === 'server_error') deps.logger.error({ err }, 'admin request failed');
      sendError(res, gw, requestId);
    });
  });
}

/** POST /admin/revoke: `{jti, exp}` | `{sub}` (every token and session of the subject before now) | `{sid}` (one login session) | `{token}`. */
async function revoke(deps: AdminDeps, body: Record<string, unknown>): Promise<void> {
  const rt = deps.current();
  const { store } = rt;
  const now = Math.floor(Date.now() / 1000);
  const keys = ['jti', 'sub', 'sid', 'token'].filter((k) => body[k] !== undefined);
  if (keys.length !== 1) throw invalidRequest('Send exactly one of {"jti": ..., "exp": ...}, {"sub": ...}, {"sid": ...} or {"token": ...}', 'bad_revoke');
  const ttl = subjectCutoffTtl(rt.config);
  const writes: WriteDeps = { logger: deps.logger, onWriteError: () => deps.metrics.storeErrors.labels('write').inc() };
  const done = (what: Record<string, unknown>) => deps.logger.info(what, 'revoked');
  if (body.jti !== undefined) {
    if (typeof body.jti !== 'string' || body.jti === '') throw invalidRequest('"jti" must be a non-empty string', 'bad_revoke');
    if (body.exp !== undefined && (typeof body.exp !== 'number' || !Number.isFinite(body.exp)))
      throw invalidRequest('"exp" must be a number of seconds since the epoch', 'bad_revoke');
    const exp = typeof body.exp === 'number' ? body.exp : now + ttl;
    const jti = body.jti;
    await durable(writes, () => store.revokeJti(jti, exp), { op: 'revoke_jti', jti });
    return done({ jti, exp });
  }
  if (body.sub !== undefined) {
    if (typeof body.sub !== 'string' || body.sub === '') throw invalidRequest('"sub" must be a non-empty string', 'bad_revoke');
    const sub = body.sub;
    await durable(writes, () => store.revokeSubject(sub, now, ttl), { op: 'revoke_subject', sub });
    return done({ sub, before: now });
  }
  if (body.sid !== undefined) {
    if (typeof body.sid !== 'string' || body.sid === '') throw invalidRequest('"sid" must be a non-empty string', 'bad_revoke');
    // a login session: its refresh family, every access token carrying that sid, and a browser session built on it
    await revokeFamily(store, writes, body.sid, ttl);
    return done({ sid: body.sid });
  }
  if (typeof body.token !== 'string' || body.token === '') throw invalidRequest('"token" must be a token string', 'bad_revoke');
  // Only tokens this gateway would accept are revoked: a forged token must not be able to name someone else's jti.
  // One of our own refresh tokens names a login session (SPEC §3): that whole family dies.
  const self = rt.self;
  const refresh = self
    ? await verifyRefreshToken(body.token, self.getKey, { iss: self.iss, algorithms: self.algorithms, maxBytes: rt.config.verify.maxTokenBytes }).catch(
        () => null,
      )
    : null;
  if (refresh) {
    await revokeFamily(store, writes, refresh.sid, ttl);
    return done({ sid: refresh.sid });
  }
  let verified: VerifiedToken;
  try {
    verified = await rt.verifier.verify(body.token);
  } catch {
    const exp = safeExp(body.token);
    if (exp !== null && exp <= now) return; // already dead
    throw invalidRequest('The token is not one this gateway accepts', 'bad_revoke_token');
  }
  if (!verified.jti && !verified.sid) throw invalidRequest('The token has no jti; revoke its subject instead', 'bad_revoke_token');
  // A leaked token means its login session is compromised too: the session's refresh family dies with it.
  done(await revokeAccessToken(store, writes, verified, ttl, true));
}

function safeExp(token: string): number | null {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}
