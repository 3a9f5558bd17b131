import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseConfigText, resolveConfigPath } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';
import { preflight } from '../gateway/preflight.js';
import { err, out } from './io.js';

/**
 * `gatehouse check`: every problem `gatehouse start` would refuse, each with
 * its YAML path; exit 1 if any. The YAML first, then (once it is valid) the
 * files it names, with the same preflight start runs. Relative file paths are
 * read from the working directory, as start reads them.
 */
export async function check(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const file = resolveConfigPath(values.config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`${file}: cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return 1;
  }
  const { config, problems } = parseConfigText(text);
  if (config) problems.push(...(await preflight(config)));
  if (problems.length === 0) {
    const warnings = config ? configWarnings(config) : [];
    for (const w of warnings) out(`warning: ${w.path}: ${w.message}`);
    out(`${file}: ok${warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}`);
    return 0;
  }
  for (const p of problems) out(p.path ? `${p.path}: ${p.message}` : p.message);
  err(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  return 1;
}
