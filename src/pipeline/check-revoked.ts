import { invalidToken, storeUnavailable } from '../errors.js';
import type { Stage } from './context.js';

/** SPEC §5.5: jti, the subject's cut-off and the login session, from the store's local view (no network round trip). */
export const checkRevoked: Stage = (ctx, { store, onStoreError, onStoreBypass }) => {
  const id = ctx.identity;
  if (!id) return;
  const state = store.state();
  if (!state.ok) {
    if (onStoreError === 'deny') throw storeUnavailable('store_down');
    onStoreBypass();
  }
  const by = store.check(id);
  if (by) throw invalidToken(`revoked_${by}`, 'The access token has been revoked');
};
