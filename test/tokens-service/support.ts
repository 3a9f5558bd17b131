/**
 * Kept only for test/store/**, whose owner will import ../helpers/ directly:
 * every name here is the shared helper of the same name, nothing is defined
 * twice. New tests import from ../helpers/.
 */
export { expectError, type ErrorBody } from '../helpers/expect.js';
export { postForm, postJson, request, sleep, type Reply } from '../helpers/http.js';
export * from '../helpers/issuer.js';
