import type { Duplex } from 'node:stream';

/**
 * Where the upstream → client byte stream of a WebSocket tunnel stands
 * (RFC 6455 §5.2): Gatehouse relays frames without reading them, but to close
 * a tunnel cleanly it must put its Close frame between two frames, never
 * inside one. Only frame headers are parsed: 2-14 bytes, then a payload
 * length to skip.
 */
export class FrameBoundary {
  /** bytes of the current frame's header collected so far */
  private header: number[] = [];
  /** payload bytes still to come in the current frame (a Number: 2^53 bytes is beyond any frame a tunnel will carry) */
  private remaining = 0;

  /** true when the bytes seen so far end exactly at a frame boundary */
  get atBoundary(): boolean {
    return this.header.length === 0 && this.remaining === 0;
  }

  /** How many bytes of `chunk`, from its start, complete the current frame (chunk.length when it does not end in it); 0 at a boundary. */
  bytesToBoundary(chunk: Buffer): number {
    const probe = this.clone();
    let i = 0;
    while (i < chunk.length) {
      // skip payload in one step, walk headers byte by byte
      const step = probe.remaining > 0 ? Math.min(probe.remaining, chunk.length - i) : 1;
      probe.push(chunk.subarray(i, i + step));
      i += step;
      if (probe.atBoundary) return i;
    }
    return chunk.length;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(chunk.length - i, this.remaining);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header.push(chunk[i] as number);
      i++;
      const need = headerLength(this.header);
      if (need !== null && this.header.length === need) {
        this.remaining = payloadLength(this.header);
        this.header = [];
      }
    }
  }

  private clone(): FrameBoundary {
    const c = new FrameBoundary();
    c.header = [...this.header];
    c.remaining = this.remaining;
    return c;
  }
}

/** The full header length once the first two bytes are known, else null. */
function headerLength(h: readonly number[]): number | null {
  if (h.length < 2) return null;
  const b1 = h[1] as number;
  const len7 = b1 & 0x7f;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  return 2 + ext + (b1 & 0x80 ? 4 : 0);
}

function payloadLength(h: readonly number[]): number {
  const len7 = (h[1] as number) & 0x7f;
  if (len7 < 126) return len7;
  let n = 0;
  const bytes = len7 === 126 ? 2 : 8;
  for (let i = 0; i < bytes; i++) n = n * 256 + (h[2 + i] as number);
  return n;
}

/** An unmasked server → client Close frame (RFC 6455 §5.5.1): status code and a short UTF-8 reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88;
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/** How long a tunnel waits for the upstream to finish the frame it is in the middle of before closing without a Close frame. */
const MID_FRAME_GRACE_MS = 1000;

/**
 * An open WebSocket tunnel: client socket ⇄ upstream socket (piped by
 * http-proxy). `close` stops relaying upstream data at the next frame
 * boundary, sends the client a Close frame with `code` and `reason`, and ends
 * both connections.
 */
export class Tunnel {
  private readonly frames = new FrameBoundary();
  private closing = false;

  constructor(
    private readonly client: Duplex,
    private readonly upstream: Duplex,
  ) {
    upstream.on('data', (chunk: Buffer) => {
      if (!this.closing) this.frames.push(chunk);
    });
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.upstream.unpipe(this.client);
    this.upstream.pause();
    const finish = () => {
      if (this.client.writable) this.client.end(closeFrame(code, reason));
      this.upstream.destroy();
      // a client that never answers the Close frame loses the connection anyway
      setTimeout(() => this.client.destroy(), MID_FRAME_GRACE_MS).unref();
    };
    if (this.frames.atBoundary) {
      finish();
      return;
    }
    // in the middle of a frame: relay only the rest of it, then close
    const timer = setTimeout(() => {
      this.upstream.destroy();
      this.client.destroy();
    }, MID_FRAME_GRACE_MS);
    timer.unref();
    const onData = (chunk: Buffer) => {
      const n = this.frames.bytesToBoundary(chunk);
      this.frames.push(chunk.subarray(0, n));
      this.client.write(chunk.subarray(0, n));
      if (this.frames.atBoundary) {
        this.upstream.off('data', onData);
        clearTimeout(timer);
        finish();
      }
    };
    this.upstream.on('data', onData);
    this.upstream.resume();
  }
}
