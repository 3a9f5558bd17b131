/**
 * The ways a backend may read a path it receives: as is, percent-decoded
 * (bytes), with "\" as "/" (IIS, Windows), with ";params" stripped before
 * "//" is merged (Tomcat, Spring), then dot segments resolved and slashes
 * merged. True when any reading lands in /admin (SECURITY.md P07-P15).
 */
export function meansAdmin(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  const decode = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  const variants = new Set<string>();
  for (const a of [path, decode(path)]) {
    for (const b of [a, a.replaceAll('\\', '/')]) {
      for (const c of [
        b,
        b
          .split('/')
          .map((s) => s.split(';')[0])
          .join('/'),
      ])
        variants.add(c);
    }
  }
  for (const v of variants) {
    const out: string[] = [];
    for (const seg of v.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') out.pop();
      else out.push(seg);
    }
    if (out[0] === 'admin') return true;
  }
  return false;
}
