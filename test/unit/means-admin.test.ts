import { expect, it } from 'vitest';
import { meansAdmin } from '../helpers/paths.js';

/** The oracle the path-trick tests (SECURITY.md P07-P15) rely on must itself recognise the classic bypass shapes. */
it('the oracle recognises the classic bypass shapes', () => {
  for (const u of [
    '/admin',
    '/admin/x',
    '//admin',
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/..%2fadmin',
    '/public/..\\admin',
    '/;x/admin',
    '/public/..;/admin',
    '/%61dmin',
    '/admin;x=1',
  ]) {
    expect(meansAdmin(u), u).toBe(true);
  }
  for (const u of ['/public/admin', '/public/x', '/Admin', '/administrator', '/public/%252e%252e/admin']) expect(meansAdmin(u), u).toBe(false);
});
