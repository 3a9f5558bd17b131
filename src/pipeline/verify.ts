import type { Stage } from './context.js';

/** The verifier answers synchronously on a cache hit, so a repeated token costs no promise. */
export const verify: Stage = (ctx, { verifier }) => {
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
