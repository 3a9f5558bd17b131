// Reading what a Gatehouse process prints, shared by bench/children.mjs,
// bench/servers.mjs and soak/soak.mjs.

/** Calls `onLine` for every complete line `stream` yields. */
export function eachLine(stream, onLine) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) if (line) onLine(line);
  });
  return () => rest;
}

/**
 * Counts Gatehouse's pino lines (stdout) by what they say rather than printing them: the message,
 * code and error, and the reason with its digits folded (`revoked_N`). Lines that are not JSON count as they are.
 */
export function countLogLines(name, stream, counts) {
  eachLine(stream, (line) => {
    let key = line.slice(0, 200);
    try {
      const j = JSON.parse(line);
      const err = j.err ? `: ${typeof j.err === 'string' ? j.err : (j.err.message ?? '')}` : '';
      key = `${j.msg}${j.code ? ` (${j.code})` : ''}${j.reason ? `: ${String(j.reason).replace(/\d+/g, 'N')}` : ''}${err}`;
    } catch {
      // not JSON: keep the raw line
    }
    key = `${name}: ${key}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
}

/**
 * Resolves once `gatehouse start` says it listens on stderr (one process: "listening on ...";
 * a primary with workers: "N workers listening", once every worker is). Every other stderr line goes
 * to `onOther`; the promise rejects with what the CLI said if it exits first, or after `ms`.
 */
export function untilListening(cli, name, onOther = () => undefined, ms = 20_000) {
  return new Promise((resolve, reject) => {
    let ready = false;
    const said = [];
    const rest = eachLine(cli.stderr, (line) => {
      if (!ready && /^gatehouse: (listening on |\d+ workers listening)/.test(line)) {
        ready = true;
        resolve();
        return;
      }
      if (!ready) said.push(line);
      onOther(line);
    });
    cli.once('error', reject);
    cli.once('exit', (code, signal) => {
      if (!ready) reject(new Error(`${name} exited during start-up (${signal ?? code})${[...said, rest()].filter(Boolean).length ? `: ${[...said, rest()].filter(Boolean).join(' | ')}` : ''}`));
    });
    setTimeout(() => reject(new Error(`${name}: not listening after ${ms / 1000} s`)), ms).unref();
  });
}
