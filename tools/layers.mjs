// The rule of the house (README "Layout"): imports point down only, and no
// file imports itself through a cycle. `npm run lint` runs this file;
// test/unit/layers.test.ts checks that it catches what it claims to.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Higher imports lower; equal ranks may not import each other across folders (siblings stay independent). */
export const LAYERS = [
  ['cli.ts'],
  ['commands'],
  ['gateway'],
  ['admin', 'issuer', 'proxy'],
  ['pipeline', 'revocation', 'sessions'],
  ['tokens', 'store'],
  ['http', 'observe', 'web'],
  ['config'],
  ['errors.ts'],
];

/** Only the top floor knows the whole runtime. */
const RUNTIME = 'gateway/runtime.ts';

const rankOf = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, LAYERS.length - i])));

/** The layer a src-relative file belongs to: its top folder, or the file itself at the root. */
export function unitOf(file) {
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : file;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** src-relative file -> src-relative files it imports (relative specifiers only; .js resolved to .ts). */
export function importGraph(srcDir) {
  const files = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.ts')) files.push(relative(srcDir, p));
    }
  };
  walk(srcDir);
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(join(srcDir, file), 'utf8');
    const deps = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      deps.push(relative(srcDir, resolve(srcDir, dirname(file), spec)).replace(/\.js$/, '.ts'));
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Every violation of the rule, as readable lines; empty when the house is in order. */
export function checkLayers(graph) {
  const problems = [];
  for (const [file, deps] of graph) {
    const from = unitOf(file);
    for (const dep of deps) {
      const to = unitOf(dep);
      if (!graph.has(dep)) problems.push(`${file}: imports ${dep}, which does not exist`);
      if (dep === RUNTIME && from !== 'gateway') problems.push(`${file}: imports the Runtime; declare the narrow dependencies this layer needs instead`);
      if (from === to) continue;
      const a = rankOf.get(from);
      const b = rankOf.get(to);
      if (a === undefined) problems.push(`${file}: "${from}" is not a known layer (add it to tools/layers.mjs and README's layout)`);
      else if (b === undefined) problems.push(`${file}: imports ${dep} from "${to}", which is not a known layer`);
      else if (b >= a) problems.push(`${file}: imports ${dep} — "${from}" may only import layers below it (${b === a ? 'a sibling layer' : 'a layer above'})`);
    }
  }
  // cycles between files (type-only imports included: they still tie the files together)
  const state = new Map();
  const stack = [];
  const visit = (file) => {
    state.set(file, 'open');
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') problems.push(`import cycle: ${[...stack.slice(stack.indexOf(dep)), dep].join(' -> ')}`);
      else if (!state.has(dep) && graph.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const graph = importGraph(src);
  const problems = checkLayers(graph);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`src/${p}\n`);
    process.stderr.write(
      `layers: ${problems.length} problem${problems.length === 1 ? '' : 's'} (imports must point down: ${LAYERS.map((l) => l.join(' ')).join(' > ')})\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`layers: ${graph.size} files, imports point down, no cycles\n`);
}
