import { describe, expect, it } from 'vitest';
import { FrameBoundary, closeFrame } from '../../src/proxy/ws-tunnel.js';

/** A WebSocket frame (RFC 6455 §5.2) with the given payload length, in each length encoding, optionally masked. */
function frame(payloadLength: number, masked = false, opcode = 0x2, fin = true): Buffer {
  const len7 = payloadLength < 126 ? payloadLength : payloadLength < 65536 ? 126 : 127;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (masked ? 0x80 : 0) | len7;
  if (len7 === 126) head.writeUInt16BE(payloadLength, 2);
  if (len7 === 127) head.writeBigUInt64BE(BigInt(payloadLength), 2);
  return Buffer.concat([head, Buffer.alloc(payloadLength, 0x61)]);
}

describe('FrameBoundary: where the upstream byte stream stands', () => {
  const frames = [
    frame(0),
    frame(5),
    frame(125),
    frame(126),
    frame(300, true),
    frame(65535),
    frame(65536),
    frame(70000, true),
    frame(3, false, 0x9),
    frame(10, false, 0x1, false),
    frame(4, false, 0x0),
  ];

  it('is at a boundary exactly after each whole frame, however the stream is cut into chunks', () => {
    const stream = Buffer.concat(frames);
    const ends = new Set<number>();
    let at = 0;
    for (const f of frames) ends.add((at += f.length));
    for (const chunkSize of [1, 2, 3, 7, 125, 4096, stream.length]) {
      const fb = new FrameBoundary();
      const wrong: number[] = [];
      let pos = 0;
      while (pos < stream.length) {
        const chunk = stream.subarray(pos, pos + chunkSize);
        fb.push(chunk);
        pos += chunk.length;
        if (fb.atBoundary !== ends.has(pos)) wrong.push(pos);
      }
      expect(wrong, `chunks of ${chunkSize} bytes: positions where the boundary was misjudged`).toEqual([]);
    }
  });

  it('bytesToBoundary says how much of a chunk completes the current frame', () => {
    const fb = new FrameBoundary();
    const a = frame(300);
    const b = frame(10);
    fb.push(a.subarray(0, 100));
    const rest = Buffer.concat([a.subarray(100), b]);
    expect(fb.bytesToBoundary(rest)).toBe(a.length - 100);
    expect(fb.atBoundary).toBe(false); // probing does not move it
    fb.push(rest.subarray(0, a.length - 100));
    expect(fb.atBoundary).toBe(true);
    // mid-header: the header itself is not complete
    fb.push(b.subarray(0, 1));
    expect(fb.atBoundary).toBe(false);
    expect(fb.bytesToBoundary(b.subarray(1))).toBe(b.length - 1);
  });

  it('closeFrame is an unmasked Close with the code and a reason cut to 123 bytes', () => {
    const f = closeFrame(1008, 'token expired');
    expect([...f.subarray(0, 4)]).toEqual([0x88, 2 + 13, 0x03, 0xf0]);
    expect(f.subarray(4).toString()).toBe('token expired');
    const long = closeFrame(1008, 'x'.repeat(500));
    expect(long[1]).toBe(125);
    expect(long.length).toBe(127);
    const fb = new FrameBoundary();
    fb.push(long);
    expect(fb.atBoundary).toBe(true);
  });
});
