import { authorizeStage } from './authorize.js';
import { checkCsrf } from './check-csrf.js';
import { checkExpect } from './check-expect.js';
import { checkHost } from './check-host.js';
import { checkRevoked } from './check-revoked.js';
import type { Stage } from './context.js';
import { extract } from './extract.js';
import { match } from './match.js';
import { normalise } from './normalise.js';
import { verify } from './verify.js';

/**
 * THE admission pipeline, in order, for every request on the main listener:
 * proxied routes, Gatehouse's own endpoints and WebSocket upgrades alike.
 * Each stage may refuse the request (a GatewayError); none of them sends it.
 */
export const STAGES: readonly Stage[] = [checkHost, checkExpect, normalise, match, extract, verify, checkCsrf, checkRevoked, authorizeStage];
