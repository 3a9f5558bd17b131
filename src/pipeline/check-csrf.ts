import { forbidden } from '../errors.js';
import { crossSiteReason, isUnsafeMethod } from '../http/browser.js';
import type { Stage } from './context.js';

/**
 * SPEC §7 CSRF: a request authenticated by the session cookie with an unsafe
 * method must come from Gatehouse's own origin (fetch metadata and Origin);
 * bearer requests are not exposed to CSRF (a browser never adds the header
 * by itself) and pass.
 */
export const checkCsrf: Stage = (ctx, { sessions }) => {
  if (ctx.credential !== 'session' || !isUnsafeMethod(ctx.req.method)) return;
  const why = crossSiteReason(ctx.req, sessions!.publicOrigin);
  if (why) throw forbidden(`csrf_${why}`);
};
