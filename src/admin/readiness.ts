import type { RevocationStore } from '../store/types.js';
import type { KeySource } from '../tokens/jwks.js';

/** What readiness is judged on: every issuer's keys and the store. */
export interface ReadinessView {
  readonly keySources: ReadonlyArray<{ iss: string; source: KeySource }>;
  readonly store: Pick<RevocationStore, 'state'>;
}

/** Why this instance should not receive traffic now; empty when ready. */
export function readinessProblems(view: ReadinessView): string[] {
  const problems: string[] = [];
  for (const { iss, source } of view.keySources) {
    if (!source.ready()) problems.push(`issuer ${iss}: ${source.problem() ?? 'keys not loaded'}`);
  }
  const state = view.store.state();
  if (!state.ok) problems.push(`revocation store: ${state.reason}`);
  return problems;
}
