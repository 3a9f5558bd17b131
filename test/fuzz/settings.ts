/**
 * Seeds and budgets shared by the fuzz properties.
 * - `npm test`: a FIXED seed and each property's base number of runs, so CI
 *   is deterministic and the whole directory stays well under 20 s.
 * - `npm run fuzz` (FUZZ=1): a random seed, printed, and 50x the runs.
 * FUZZ_SEED=<n> replays a seed in either mode; FUZZ_RUNS is a multiplier
 * ("20x") or an absolute number of runs per property ("100000").
 */
const FIXED_SEED = 0x6a7e_4011;

export const FUZZING = process.env.FUZZ === '1' || process.env.FUZZ === 'true';

function parseSeed(): number {
  const raw = process.env.FUZZ_SEED;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isSafeInteger(n)) throw new TypeError(`FUZZ_SEED must be an integer, got ${JSON.stringify(raw)}`);
    return n | 0;
  }
  return FUZZING ? (Math.random() * 0x7fff_ffff) | 0 : FIXED_SEED;
}

/** One seed for the whole run (per test file), so a single FUZZ_SEED replays everything that failed. */
export const SEED = parseSeed();

function runsFor(base: number): number {
  const raw = process.env.FUZZ_RUNS ?? (FUZZING ? '50x' : '1x');
  const scaled = /^(\d+(?:\.\d+)?)x$/i.exec(raw);
  const n = scaled ? Math.round(base * Number(scaled[1])) : Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`FUZZ_RUNS must be a multiplier like "20x" or a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export interface Budget {
  seed: number;
  numRuns: number;
  /** vitest timeout for the test running this property */
  timeoutMs: number;
}

/** The fast-check parameters for a property whose base (CI) budget is `base` runs of about `msPerRun` each. */
export function budget(base: number, msPerRun: number): Budget {
  const numRuns = runsFor(base);
  return { seed: SEED, numRuns, timeoutMs: Math.max(20_000, Math.ceil(numRuns * msPerRun * 3) + 10_000) };
}

/** One line per property: how many cases ran and how to replay them. */
export function report(name: string, b: Budget, counts: Record<string, number>): void {
  const detail = Object.entries(counts)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(
    `[fuzz] ${name}: ${detail} (seed ${b.seed}, numRuns ${b.numRuns}; replay: FUZZ=1 FUZZ_SEED=${b.seed} FUZZ_RUNS=${b.numRuns} npx vitest run test/fuzz)`,
  );
}
