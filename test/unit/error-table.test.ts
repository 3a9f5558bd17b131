import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, GatewayError, type ErrorCode, type ErrorKind } from '../../src/errors.js';

const root = new URL('../..', import.meta.url).pathname;
const srcFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? srcFiles(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
const errorsText = readFileSync(join(root, 'src/errors.ts'), 'utf8');
const others = srcFiles(join(root, 'src'))
  .filter((f) => !f.endsWith('/src/errors.ts'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

/** The helpers of errors.ts that build each code: `export const name = (...) => new GatewayError('code'`. */
function helpersOf(code: string): string[] {
  const out: string[] = [];
  for (const m of errorsText.matchAll(/export const (\w+) = [^;]*?new GatewayError\('(\w+)'/g)) if (m[2] === code) out.push(m[1] as string);
  // and the exported functions that call one of those (asGatewayError -> internalError)
  for (const m of errorsText.matchAll(/export function (\w+)\([^{]*\{([^}]*)\}/g))
    if (out.some((h) => new RegExp(`\\b${h}\\(`).test(m[2] as string))) out.push(m[1] as string);
  return out;
}

describe('the error table (src/errors.ts) is the only source of statuses', () => {
  const codes = Object.keys(ERROR_TABLE) as ErrorCode[];

  it.each(codes)('%s is produced somewhere in src/', (code) => {
    const direct = others.includes(`new GatewayError('${code}'`) || new RegExp(`new GatewayError\\([^)]*'${code}'`).test(others);
    const viaHelper = helpersOf(code).some((h) => new RegExp(`\\b${h}\\(`).test(others));
    expect(
      direct || viaHelper,
      `${code}: neither new GatewayError('${code}', ...) nor a helper that builds it (${helpersOf(code).join(', ') || 'none'}) is used outside errors.ts`,
    ).toBe(true);
  });

  it.each(codes)('%s is documented in docs/request-path-and-errors.md with its status', (code) => {
    const readme = readFileSync(join(root, 'docs/request-path-and-errors.md'), 'utf8');
    expect(readme).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${ERROR_TABLE[code].status}\\s*\\|`));
  });

  it('no call site passes a status: GatewayError takes a code and a reason', () => {
    expect(others).not.toMatch(/new GatewayError\([^)]*status:/);
    expect(others).not.toMatch(/\.status\s*=\s*\d/);
  });

  it('statuses, challenges and closing come from the table', () => {
    for (const code of codes) {
      const e = new GatewayError(code, 'test');
      expect(e.status).toBe(ERROR_TABLE[code].status);
      const kind: ErrorKind = ERROR_TABLE[code];
      expect(e.closeConnection).toBe(kind.close ?? false);
      if (kind.challenge === 'bare') expect(e.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
      else if (kind.challenge === 'error') expect(e.headers['www-authenticate']).toContain(`error="${code}"`);
      else expect(e.headers['www-authenticate']).toBeUndefined();
    }
    expect(new GatewayError('invalid_grant', 'x').forJsonApi().status).toBe(401);
    expect(new GatewayError('invalid_request', 'x').forJsonApi().status).toBe(400);
  });
});
