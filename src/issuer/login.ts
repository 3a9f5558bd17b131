import { GatewayError, invalidRequest, tooManyRequests } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { durable } from '../revocation/revoke.js';
import { MAX_PASSWORD_BYTES, dummyHash, isWeakHash, verifyPassword } from '../tokens/passwords.js';
import { newId } from '../tokens/refresh.js';
import type { User } from '../tokens/users.js';
import { NO_STORE, seconds, type IssuerDeps } from './deps.js';
import { grantedScope, tokenResponse, type TokenResponse } from './token-response.js';

const badCredentials = (oauth: boolean, reason: string) =>
  new GatewayError(oauth ? 'invalid_grant' : 'invalid_credentials', reason, { description: 'The username or password is incorrect', headers: NO_STORE });

/**
 * The password grant (JSON login API and, when enabled, /oauth/token):
 * throttled per username and per client IP (attempts still being checked
 * count), one argon2 verification whether or not the user exists, a new
 * login session (refresh family) on success.
 */
export async function login(
  deps: IssuerDeps,
  ctx: RequestContext,
  username: unknown,
  password: unknown,
  scope: string | undefined,
  oauth: boolean,
): Promise<TokenResponse> {
  const user = await authenticateUser(deps, ctx, username, password, oauth);
  const { sid, jti } = await startLoginSession(deps, user);
  ctx.reason = 'login';
  return tokenResponse(deps, user, sid, jti, grantedScope(user, scope));
}

/** The password check every sign-in shares (JSON API, OAuth password grant, the sign-in page): throttled, constant-cost, one generic failure. */
export async function authenticateUser(deps: IssuerDeps, ctx: RequestContext, username: unknown, password: unknown, oauth: boolean): Promise<User> {
  if (typeof username !== 'string' || username.length === 0 || username.length > 256)
    throw invalidRequest('"username" is required (a string of at most 256 characters)', 'bad_username');
  if (typeof password !== 'string' || password.length === 0) throw invalidRequest('"password" is required', 'bad_password');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw invalidRequest(`"password" is longer than ${MAX_PASSWORD_BYTES} bytes`, 'password_too_long');
  const { store, state, logger } = deps;
  const { perUser, perIp, windowMs } = deps.issuer.throttle;
  const userKey = `login:user:${username.normalize('NFC')}`;
  const ipKey = `login:ip:${ctx.clientIp}`;
  const [u, ip] = await durable(deps, () => Promise.all([store.peek(userKey), store.peek(ipKey)]), { op: 'throttle_peek' });
  // Locked out: the same answer whatever the password (SECURITY.md O11), until the window ends.
  // Attempts still being checked count too, or a burst of parallel guesses would all pass this check before the first one failed.
  // While only in-flight attempts count, the stored window has not started yet: it will when they fail, so a whole window is the honest Retry-After.
  const window = Math.ceil(windowMs / 1000);
  const retryAfter = (c: { count: number; resetIn: number }) => (c.count > 0 ? c.resetIn : window);
  if (u.count + (state.checking.get(userKey) ?? 0) >= perUser) throw tooManyRequests(retryAfter(u), 'throttled_user');
  if (ip.count + (state.checking.get(ipKey) ?? 0) >= perIp) throw tooManyRequests(retryAfter(ip), 'throttled_ip');
  const user = deps.users?.find(username);
  state.track([userKey, ipKey], 1);
  let ok: boolean;
  try {
    // Unknown users cost one argon2 verification too (SECURITY.md O13-O14).
    ok = (await verifyPassword(user?.password ?? (await dummyHash()), password)) && user !== undefined;
    // recorded before the attempt stops counting as in flight, so there is no moment it counts as neither
    if (!ok) await durable(deps, () => Promise.all([store.hit(userKey, window), store.hit(ipKey, window)]), { op: 'throttle_hit' });
  } finally {
    state.track([userKey, ipKey], -1);
  }
  if (!ok || !user) throw badCredentials(oauth, user ? 'wrong_password' : 'unknown_user');
  await durable(deps, () => store.reset(userKey), { op: 'throttle_reset' });
  if (isWeakHash(user.password) && !state.warnedWeak.has(user.username)) {
    state.warnedWeak.add(user.username);
    logger.warn({ user: user.username }, 'password hash is weaker than argon2id m=19456,t=2,p=1: regenerate it with "gatehouse hash-password"');
  }
  return user;
}

/** A new login session: a refresh family (`sid`) whose first refresh token id is `jti`. */
export async function startLoginSession(deps: IssuerDeps, user: User): Promise<{ sid: string; jti: string }> {
  const sid = newId();
  const jti = newId();
  const exp = Math.floor(Date.now() / 1000) + seconds(deps.issuer.refreshTokenTtlMs);
  await durable(deps, () => deps.store.createFamily(sid, user.username, jti, exp), { op: 'create_family' });
  return { sid, jti };
}
