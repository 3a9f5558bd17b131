/**
 * The security catalogues are tested once, here in test/security/: every id
 * in SECURITY.md (J01-J38, O01-O15, P01-P28, F01-F13; a range such as
 * "J10-J11" stands for each id in it) and in the project's own second round
 * (docs/security-catalogue.md: H, I, X, E, M, K, W ids) is the start of
 * exactly one `describe`/`it`/`test` title in test/security/*.test.ts, no
 * title names an id the catalogues lack, and no test elsewhere claims an id.
 * The first catalogue is the repository's copy, docs/security-catalogue-1.md;
 * where the original it was copied from (../shared/SECURITY.md) sits next to
 * the repository, the copy must list exactly its ids.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CATALOGUE = join(ROOT, 'docs/security-catalogue-1.md');
const ORIGINAL = resolve(ROOT, '../shared/SECURITY.md');
const OWN_CATALOGUE = join(ROOT, 'docs/security-catalogue.md');
const LETTERS = 'JOPFHIXEMKW';
const SECURITY_DIR = join(ROOT, 'test/security');

/** "J10-J11" -> J10, J11; "F13" -> F13. */
function expand(label: string): string[] {
  const m = new RegExp(`^([${LETTERS}])(\\d{2})(?:-\\1(\\d{2}))?$`).exec(label);
  if (!m) throw new Error(`not a catalogue id or range: ${label}`);
  const [, letter, from, to] = m as unknown as [string, string, string, string | undefined];
  const ids: string[] = [];
  for (let n = Number(from); n <= Number(to ?? from); n++) ids.push(`${letter}${String(n).padStart(2, '0')}`);
  return ids;
}

/** The ids a catalogue file lists: each entry is a bullet that starts with an id or a range. */
function idsIn(file: string): string[] {
  const ids: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(new RegExp(`^- ([${LETTERS}]\\d{2}(?:-[${LETTERS}]\\d{2})?)\\s`, 'gm')))
    ids.push(...expand(m[1] as string));
  return ids;
}

/** The ids of both catalogues. */
function catalogueIds(): string[] {
  return [...idsIn(CATALOGUE), ...idsIn(OWN_CATALOGUE)];
}

/**
 * Titles of describe/it/test calls (also `.each(...)(title)` and other
 * modifiers) that start with a catalogue id or range, with the modifiers used.
 */
const TITLE = new RegExp(
  `\\b(describe|it|test)((?:\\.\\w+)*)(?:\\((?:[^()]|\\([^()]*\\))*\\))?\\(\\s*(['"\`])([${LETTERS}]\\d{2}(?:-[${LETTERS}]\\d{2})?)(?![\\w-])`,
  'g',
);

interface Claim {
  id: string;
  where: string;
  modifiers: string;
}

function claims(file: string): Claim[] {
  const text = readFileSync(file, 'utf8');
  const out: Claim[] = [];
  for (const m of text.matchAll(TITLE)) {
    const line = text.slice(0, m.index).split('\n').length;
    for (const id of expand(m[4] as string)) out.push({ id, where: `${relative(ROOT, file)}:${line}`, modifiers: m[2] ?? '' });
  }
  return out;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('the security catalogue', () => {
  it('the repository copy of the first catalogue lists the same ids as its original, where that is next to the repository', () => {
    const copy = idsIn(CATALOGUE);
    expect(copy.length, 'ids in docs/security-catalogue-1.md').toBeGreaterThan(90);
    if (existsSync(ORIGINAL)) expect(copy).toEqual(idsIn(ORIGINAL));
  });

  it('every catalogue id is the title of exactly one test in test/security, and no title names an id the catalogue lacks', () => {
    const wanted = catalogueIds();
    expect(wanted.length, 'ids parsed from the catalogues').toBeGreaterThan(90);
    expect(new Set(wanted).size, 'a catalogue lists an id twice').toBe(wanted.length);
    const found = testFiles(SECURITY_DIR).flatMap(claims);
    const byId = new Map<string, string[]>();
    for (const c of found) byId.set(c.id, [...(byId.get(c.id) ?? []), c.where]);
    const missing = wanted.filter((id) => !byId.has(id));
    const unknown = [...byId.keys()].filter((id) => !wanted.includes(id)).sort();
    const twice = Object.fromEntries([...byId].filter(([, where]) => where.length > 1));
    // a skipped, todo, conditional or focused test does not count as tested
    const notRun = found.filter((c) => /\.(skip|todo|only|skipIf|runIf|fails)\b/.test(c.modifiers)).map((c) => `${c.id} ${c.where} (${c.modifiers})`);
    expect({ missing, unknown, twice, notRun }).toEqual({ missing: [], unknown: [], twice: {}, notRun: [] });
  });

  it('no test outside test/security claims a catalogue id (they say "(J24)" at the end instead)', () => {
    const elsewhere = testFiles(join(ROOT, 'test'))
      .filter((f) => !f.startsWith(SECURITY_DIR + '/'))
      .flatMap(claims)
      .map((c) => `${c.id} ${c.where}`);
    expect(elsewhere).toEqual([]);
  });
});
