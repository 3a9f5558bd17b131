import type { IncomingMessage } from 'node:http';
import type { CompiledRoute } from './match.js';
import type { VerifiedToken } from '../tokens/verifier.js';

export type AuthOutcome = 'public' | 'anonymous' | 'authenticated' | 'denied' | 'error';

/** Everything one request accumulates on its way through the stages. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly requestId: string;
  readonly startedAt: number;
  /** client address after walking X-Forwarded-For through trusted proxies */
  clientIp: string;
  path: string;
  segments: string[];
  query: string;
  route: CompiledRoute | null;
  token: string | null;
  identity: VerifiedToken | null;
  outcome: AuthOutcome;
  /** stable reason id for logs and metrics */
  reason: string;
}
