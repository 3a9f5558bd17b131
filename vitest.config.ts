import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Projects (`npx vitest run --project <name>`):
 * - unit: pure functions; no sockets, no child processes (test/helpers/no-io.ts makes sure; seconds)
 * - security: SECURITY.md, one test per catalogue id, plus the check that the catalogue is covered
 * - fuzz: fast-check properties (fixed seed here; `npm run fuzz` explores)
 * - soak: the 20 s soak against dist/
 * - e2e: everything else, through real gateways, upstreams, Redis and the built CLI
 * Projects never set `include` at the root: Vite merges arrays, so a root
 * include would put every file in every project.
 */
const UNIT = ['test/unit/**/*.test.ts', 'test/config/**/*.test.ts'];
const SECURITY = ['test/security/**/*.test.ts'];
const FUZZ = ['test/fuzz/**/*.test.ts'];
const SOAK = ['test/soak/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary'],
      // the figure is printed even when a test fails
      reportOnFailure: true,
    },
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, setupFiles: ['test/helpers/no-io.ts'] } },
      { extends: true, test: { name: 'security', include: SECURITY } },
      { extends: true, test: { name: 'fuzz', include: FUZZ } },
      { extends: true, test: { name: 'soak', include: SOAK } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...UNIT, ...SECURITY, ...FUZZ, ...SOAK] } },
    ],
  },
});
