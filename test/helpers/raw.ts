import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
  /** the server closed the connection */
  closed: boolean;
}

/**
 * Sends bytes exactly as given over a fresh TCP connection and reads until the
 * server closes or `waitMs` passes after the first response. For requests
 * Node's and undici's clients refuse to send (duplicate headers, smuggling).
 */
export function rawRequest(port: number, payload: string | Buffer, waitMs = 300): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | null = null;
    const done = () => {
      if (timer) clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), raw, closed });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!timer) timer = setTimeout(done, waitMs);
    });
    socket.on('end', () => {
      closed = true;
      done();
    });
    socket.on('error', (e) => (chunks.length ? done() : reject(e)));
    socket.write(payload);
    setTimeout(done, Math.max(waitMs * 10, 3000)).unref();
  });
}
