import { GatewayError } from '../errors.js';
import type { Stage } from './context.js';

/**
 * RFC 9110 §10.1.1: `Expect: 100-continue` is the only expectation; any other
 * is answered 417. (A 100-continue request is admitted first and only then
 * told to send its body: gateway/handle-request.ts.)
 */
export const checkExpect: Stage = (ctx) => {
  const expect = ctx.req.headers.expect;
  if (expect !== undefined && expect.toLowerCase() !== '100-continue')
    throw new GatewayError('expectation_failed', 'bad_expect', { description: 'Only "Expect: 100-continue" is supported' });
};
