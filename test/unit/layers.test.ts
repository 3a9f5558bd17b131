import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs tool without type declarations
import { checkLayers, importGraph } from '../../tools/layers.mjs';

type Graph = Map<string, string[]>;
const check = (entries: Array<[string, string[]]>): string[] => (checkLayers as (g: Graph) => string[])(new Map(entries));

describe('tools/layers.mjs: imports point down only, no cycles', () => {
  it('the source tree passes', () => {
    const graph = (importGraph as (dir: string) => Graph)(new URL('../../src', import.meta.url).pathname);
    expect(graph.size).toBeGreaterThan(40);
    expect(check([...graph])).toEqual([]);
  });

  it('accepts downward imports and imports inside one folder', () => {
    expect(
      check([
        ['gateway/gateway.ts', ['gateway/runtime.ts', 'pipeline/run.ts', 'errors.ts']],
        ['gateway/runtime.ts', ['pipeline/run.ts']],
        ['pipeline/run.ts', ['pipeline/context.ts']],
        ['pipeline/context.ts', ['tokens/verifier.ts']],
        ['tokens/verifier.ts', ['errors.ts']],
        ['errors.ts', []],
      ]),
    ).toEqual([]);
  });

  it('refuses an import of a layer above, of a sibling layer, and of the Runtime below the top floor', () => {
    const problems = check([
      ['pipeline/verify.ts', ['gateway/runtime.ts']],
      ['admin/server.ts', ['issuer/routes.ts']],
      ['issuer/routes.ts', []],
      ['gateway/runtime.ts', []],
    ]);
    expect(problems).toEqual([
      'pipeline/verify.ts: imports the Runtime; declare the narrow dependencies this layer needs instead',
      'pipeline/verify.ts: imports gateway/runtime.ts — "pipeline" may only import layers below it (a layer above)',
      'admin/server.ts: imports issuer/routes.ts — "admin" may only import layers below it (a sibling layer)',
    ]);
  });

  it('refuses an unknown top folder and an import of a file that does not exist', () => {
    expect(
      check([
        ['misc/x.ts', ['errors.ts']],
        ['errors.ts', []],
      ]),
    ).toEqual(['misc/x.ts: "misc" is not a known layer (add it to tools/layers.mjs and README\'s layout)']);
    expect(check([['pipeline/a.ts', ['pipeline/gone.ts']]])).toEqual(['pipeline/a.ts: imports pipeline/gone.ts, which does not exist']);
  });

  it('finds a cycle between files, type-only imports included', () => {
    expect(
      check([
        ['pipeline/context.ts', ['pipeline/match.ts']],
        ['pipeline/match.ts', ['pipeline/context.ts']],
      ]),
    ).toEqual(['import cycle: pipeline/context.ts -> pipeline/match.ts -> pipeline/context.ts']);
  });
});
