import type { GatehouseConfig } from '../schema.js';
import { checkClaimPaths, readIdentity } from './identity.js';
import { readIssuer } from './issuer.js';
import { createReader, type ConfigProblem, type KeyListener } from './reader.js';
import { readRevocation } from './revocation.js';
import { readRoutes } from './routes.js';
import { readAdmin, readLog, readServer } from './server.js';
import { readSessions } from './sessions.js';
import { readTrustedIssuers } from './trusted-issuers.js';
import { readVerify } from './verify.js';

export type { ConfigProblem } from './reader.js';

const SECTIONS = ['server', 'admin', 'issuer', 'trustedIssuers', 'verify', 'revocation', 'identity', 'routes', 'log', 'sessions'];

/**
 * Walks the raw YAML value once, reporting every problem with its YAML path,
 * and builds the normalised config. Unknown keys are problems: a typo such as
 * `auht:` must never silently fall back to a default.
 *
 * Each section has its own reader (server.ts, issuer.ts, ...); the rules that
 * span sections live here. Sections are read in a fixed order, so problems are
 * always listed in the same order. Files the config names (keys, users) are
 * not read here: that is gateway/preflight.ts, which `check` and `start` share.
 */
export function validateConfig(raw: unknown, onKeys?: KeyListener): { config: GatehouseConfig | null; problems: ConfigProblem[] } {
  const r = createReader([], onKeys);
  const root = r.obj(raw, '', SECTIONS);
  if (!root) return { config: null, problems: r.problems };

  const server = readServer(r, root.server);
  const admin = readAdmin(r, root.admin, server.listen);
  const verify = readVerify(r, root.verify);
  const sessionsOn = root.sessions !== undefined && root.sessions !== null;
  const issuer = readIssuer(r, root.issuer, sessionsOn ? server.publicUrl : null, sessionsOn);
  const trustedIssuers = readTrustedIssuers(r, root.trustedIssuers, verify, issuer);
  const revocation = readRevocation(r, root.revocation);
  if (server.workers !== 1 && revocation.store === 'memory') {
    r.fail(
      'server.workers',
      'more than one worker needs revocation.store: redis (the memory store lives in one process, so a revocation would reach only one worker)',
    );
  }
  const identity = readIdentity(r, root.identity);
  const log = readLog(r, root.log);
  const sessions = readSessions(r, root.sessions, server, issuer);
  // SPEC §7: with sessions the issuer is the public origin (and must share it when both are set)
  if (sessions && issuer && server.publicUrl && new URL(issuer.iss).origin !== server.publicUrl) {
    r.fail('issuer.iss', `must be on server.publicUrl's origin (${server.publicUrl}) when sessions are on: browsers sign in there`);
  }
  const routes = readRoutes(r, root.routes, server.upstreamTimeoutMs);
  if (issuer === null && trustedIssuers.length === 0 && routes.some((rt) => rt.auth.mode !== 'public')) {
    r.fail('routes', 'some routes need a token but neither issuer nor trustedIssuers is configured, so no token could ever be valid');
  }
  checkClaimPaths(r, identity.headers);

  if (r.problems.length > 0) return { config: null, problems: r.problems };
  return { config: { server, admin, sessions, issuer, trustedIssuers, verify, revocation, identity, log, routes, sourcePath: null }, problems: r.problems };
}
