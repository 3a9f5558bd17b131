import type { IncomingMessage, ServerResponse } from 'node:http';
import { isNavigation } from '../http/browser.js';
import { sendError } from '../http/respond.js';
import type { CompiledRoute, RequestContext } from '../pipeline/context.js';
import { andThen, runStages } from '../pipeline/run.js';
import { STAGES } from '../pipeline/stages.js';
import { forward } from '../proxy/forward.js';
import { createFinish, newContext, noteRefusal, type ListenerDeps } from './finish.js';

/**
 * THE request path of the main listener, top-down:
 *   1. the stages (pipeline/stages.ts) admit or refuse the request;
 *   2. a built-in route (token service, discovery, JWKS) answers it itself,
 *      any other route forwards it upstream;
 *   3. `finish` records it once (metrics, access log).
 * Written as plain continuations: a cached token goes from the socket to
 * undici without a promise or a microtask, and only a step that has to wait
 * (a signature check, a built-in endpoint) continues asynchronously.
 */
export function createRequestHandler(deps: ListenerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const finish = createFinish(deps);
  const refuse = (ctx: RequestContext, res: ServerResponse, err: unknown) => {
    const gw = noteRefusal(ctx, err, deps.logger);
    const page = ctx.credential === 'session' && isNavigation(ctx.req) && deps.current().refusalPage(res, gw.status, ctx.requestId);
    if (!page) sendError(res, gw, ctx.requestId);
    finish(ctx, gw.status, null);
  };
  const serveLocally = (ctx: RequestContext, res: ServerResponse, route: CompiledRoute) => {
    const handlers = route.local!;
    const method = ctx.req.method ?? 'GET';
    const handler = (handlers[method] ?? handlers.GET)!; // match refused any other method with 405
    res.setHeader('x-request-id', ctx.requestId); // SPEC §5: successes carry it too
    handler(ctx, res).then(
      () => finish(ctx, res.statusCode, null),
      (err: unknown) => refuse(ctx, res, err),
    );
  };

  return (req, res) => {
    const rt = deps.current();
    const ctx = newContext(req, rt);
    const fail = (err: unknown) => refuse(ctx, res, err);
    try {
      andThen(
        runStages(ctx, rt, STAGES),
        () => {
          const route = ctx.route!;
          // admitted: only now may a client waiting on "Expect: 100-continue" send its body
          if (req.headers.expect !== undefined) res.writeContinue();
          if (route.local) serveLocally(ctx, res, route);
          else
            forward(ctx, res, route, rt, (status, origin, reason) => {
              if (reason) ctx.reason = reason;
              finish(ctx, status, origin);
            });
        },
        fail,
      );
    } catch (err) {
      fail(err);
    }
  };
}
