import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidRequest } from '../errors.js';
import { writeRawError } from '../http/respond.js';
import { andThen, runStages } from '../pipeline/run.js';
import { STAGES } from '../pipeline/stages.js';
import { forwardUpgrade } from '../proxy/forward.js';
import { createFinish, newContext, noteRefusal, type ListenerDeps } from './finish.js';

/**
 * WebSocket upgrades: the same stages as any request, then http-proxy, and
 * the same finish (metrics, access log) once the upstream has answered the
 * upgrade. Only `Upgrade: websocket` is accepted (no h2c smuggling), on
 * routes that allow it.
 */
export function createUpgradeHandler(deps: ListenerDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const finish = createFinish(deps);
  return (req, socket, head) => {
    const rt = deps.current();
    const ctx = newContext(req, rt);
    socket.on('error', () => socket.destroy());
    const refuse = (err: unknown) => {
      const gw = noteRefusal(ctx, err, deps.logger);
      writeRawError(socket, gw, ctx.requestId);
      finish(ctx, gw.status, null);
    };
    try {
      if (String(req.headers.upgrade).toLowerCase() !== 'websocket') throw invalidRequest('Only WebSocket upgrades are supported', 'bad_upgrade', true);
      andThen(
        runStages(ctx, rt, STAGES),
        () => {
          const route = ctx.route!;
          if (!route.proxy?.websocket) throw invalidRequest('WebSocket upgrades are not enabled on this route', 'websocket_disabled', true);
          forwardUpgrade(ctx, socket, head, route, rt, {
            opened: (status, origin) => finish(ctx, status, origin),
            failed: (gw, origin) => {
              ctx.reason = gw?.reason ?? 'client_closed';
              finish(ctx, gw?.status ?? 499, origin);
            },
          });
        },
        refuse,
      );
    } catch (err) {
      refuse(err);
    }
  };
}
