import type { VerifiedToken } from '../tokens/verifier.js';
import type { RequestContext, Stage, StageDeps } from './context.js';
import { noCredential } from './extract.js';

/**
 * The verifier answers synchronously on a cache hit, so a repeated token
 * costs no promise. A session resolves to the identity of the access token
 * minted for it; a session that is gone counts as no credential.
 */
export const verify: Stage = (ctx, deps) => {
  if (ctx.credential === 'session') {
    const found = deps.sessions!.resolve(ctx.sessionId!);
    if (found instanceof Promise) return found.then((f) => settleSession(ctx, f, deps));
    return settleSession(ctx, found, deps);
  }
  const { verifier } = deps;
  if (ctx.token === null) return;
  const result = verifier.verify(ctx.token);
  if (result instanceof Promise) {
    return result.then((v) => {
      ctx.identity = v;
    });
  }
  ctx.identity = result;
  return undefined;
};

function settleSession(ctx: RequestContext, found: { identity: VerifiedToken; token: string } | null, deps: StageDeps): void | Promise<void> {
  if (found === null) {
    ctx.credential = 'none';
    return noCredential(ctx, deps, 'session_expired');
  }
  ctx.identity = found.identity;
  ctx.token = found.token;
  return undefined;
}
