import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseConfigText, resolveConfigPath } from '../config/load.js';
import { err, out } from './io.js';

/** `gatehouse check`: every problem `gatehouse start` would refuse, each with its YAML path; exit 1 if any. */
export function check(args: string[]): number {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const file = resolveConfigPath(values.config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`${file}: cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return 1;
  }
  const { problems } = parseConfigText(text);
  if (problems.length === 0) {
    out(`${file}: ok`);
    return 0;
  }
  for (const p of problems) out(p.path ? `${p.path}: ${p.message}` : p.message);
  err(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  return 1;
}
