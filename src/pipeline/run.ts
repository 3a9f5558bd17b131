import type { RequestContext, Stage, StageDeps } from './context.js';

/**
 * Runs the stages in order; throws (or rejects with) the first GatewayError.
 * Stays synchronous while every stage is (a cached token never touches the
 * event loop) and continues asynchronously from the first stage that returns
 * a promise.
 */
export function runStages(ctx: RequestContext, deps: StageDeps, stages: readonly Stage[], from = 0): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    const pending = (stages[i] as Stage)(ctx, deps);
    if (pending) return pending.then(() => runStages(ctx, deps, stages, i + 1));
  }
  return undefined;
}

/**
 * Runs `next` with a step's result: at once when it has one, else once its
 * promise settles. A rejection, or a throw in `next` after a wait, goes to
 * `fail`; a synchronous throw propagates to the caller's own try.
 */
export function andThen<T>(step: T | Promise<T>, next: (value: T) => void, fail: (err: unknown) => void): void {
  if (step instanceof Promise) step.then(next).catch(fail);
  else next(step);
}
