import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidRequest } from '../errors.js';
import { writeRawError } from '../http/respond.js';
import { andThen, runStages } from '../pipeline/run.js';
import { STAGES } from '../pipeline/stages.js';
import { forwardUpgrade } from '../proxy/forward.js';
import type { ConnectionWatch } from '../revocation/watch.js';
import { createFinish, newContext, noteRefusal, type ListenerDeps } from './finish.js';

/** RFC 6455 §7.4.1 1008 Policy Violation: the close code a client gets when its token expires or is revoked (the reason says which). */
export const WS_POLICY_CLOSE = 1008;

export interface UpgradeDeps extends ListenerDeps {
  /** open tunnels, each held to its token */
  readonly watch: ConnectionWatch;
}

/**
 * WebSocket upgrades: the same stages as any request, then http-proxy, and
 * the same finish (metrics, access log) once the upstream has answered the
 * upgrade. Only `Upgrade: websocket` is accepted (no h2c smuggling), on
 * routes that allow it.
 */
export function createUpgradeHandler(deps: UpgradeDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
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
            opened: (status, origin, tunnel) => {
              finish(ctx, status, origin);
              const token = ctx.identity;
              if (!tunnel || !token) return;
              // The tunnel lives as long as the token that opened it (README: WebSocket lifetime).
              const unwatch = deps.watch.add(token, (why) => {
                deps.logger.info({ reqId: ctx.requestId, route: route.name, sub: token.sub, reason: why, code: WS_POLICY_CLOSE }, 'websocket closed');
                deps.metrics.onTunnelClosed(why);
                tunnel.close(WS_POLICY_CLOSE, why);
              });
              socket.once('close', unwatch);
            },
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
