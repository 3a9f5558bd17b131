/**
 * The short soak in CI (soak/README.md): `node soak/run.mjs` with
 * SOAK_SECONDS=20 against dist/ (npm test builds it first): two Gatehouse
 * processes, one real redis-server, a JWKS server and two upstreams, while
 * Redis, the JWKS server and one upstream are killed and restarted. No
 * forged, expired, missing or (after 1 s) revoked token may be accepted, and
 * every request must be answered.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-soak-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface SoakResult {
  sent: number;
  answered: number;
  wrongAccepts: number;
  wrongDenials: number;
  unexpected5xx: number;
  lost: number;
  revocations: { confirmed: number };
  faults: Array<{ kind: string }>;
  samples: unknown[];
}

describe('soak (20 s, faults on)', () => {
  it('accepts no token it should refuse and answers every request', async () => {
    expect(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/cli.js is missing: run `npm run build` first (npm test does)').toBe(true);
    const out = join(dir, 'soak.json');
    const child = spawn(process.execPath, [join(ROOT, 'soak', 'run.mjs')], {
      cwd: ROOT,
      env: { ...process.env, SOAK_SECONDS: '20', SOAK_RPS: '120', SOAK_CONCURRENCY: '16', SOAK_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(existsSync(out), text).toBe(true);
    const r = JSON.parse(readFileSync(out, 'utf8')) as SoakResult;
    const why = `${text}\n${JSON.stringify(r.samples, null, 1)}`;
    expect(r.sent, why).toBeGreaterThan(1000);
    expect(r.wrongAccepts, why).toBe(0);
    expect(r.lost, why).toBe(0);
    expect(r.answered, why).toBe(r.sent);
    expect(r.revocations.confirmed, why).toBeGreaterThan(0);
    expect(new Set(r.faults.map((f) => f.kind)), why).toEqual(new Set(['redis', 'jwks', 'upstream']));
    // wrong denials and 5xx outside the fault windows are reported by the soak and fail it too
    expect(r.wrongDenials, why).toBe(0);
    expect(r.unexpected5xx, why).toBe(0);
    expect(code, why).toBe(0);
  }, 90_000);
});
