/**
 * Route path patterns (SPEC §2): literal segments, `*` = exactly one segment,
 * `**` = zero or more segments, only as the last segment. Matching is on
 * segments of the normalised path, case-sensitive.
 */
export interface CompiledPattern {
  /** literal or '*' segments before an optional trailing '**' */
  segments: readonly string[];
  rest: boolean;
  error: string | null;
}

export function compilePattern(pattern: string): CompiledPattern {
  const bad = (error: string): CompiledPattern => ({ segments: [], rest: false, error });
  if (!pattern.startsWith('/')) return bad('must start with "/"');
  if (/[?#\\%\s]/.test(pattern)) return bad('must be a plain path: no "?", "#", "%", "\\" or spaces');
  const parts = pattern === '/' ? [] : pattern.slice(1).split('/');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop(); // "/x/" == "/x"
  let rest = false;
  for (let i = 0; i < parts.length; i++) {
    const seg = parts[i] as string;
    if (seg === '') return bad('must not contain empty segments ("//")');
    if (seg === '.' || seg === '..') return bad('must not contain "." or ".." segments');
    if (seg === '**') {
      if (i !== parts.length - 1) return bad('"**" is only allowed as the last segment');
      rest = true;
    } else if (seg !== '*' && seg.includes('*')) {
      return bad(`"${seg}": "*" must be a whole segment ("*" = one segment, "**" = any number at the end)`);
    }
  }
  return { segments: rest ? parts.slice(0, -1) : parts, rest, error: null };
}

/** `segments` are the normalised path's segments without the leading "" and without a trailing empty one. */
export function matchSegments(p: CompiledPattern, segments: readonly string[]): boolean {
  const n = p.segments.length;
  if (p.rest ? segments.length < n : segments.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const want = p.segments[i];
    if (want !== '*' && want !== segments[i]) return false;
  }
  return true;
}
