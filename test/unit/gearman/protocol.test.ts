import { describe, expect, it } from 'vitest';
import { FrameRefusedError, Packet, PacketDecoder, encodeRequest } from '../../../src/gearman/protocol.js';
import { createRefusalLog } from '../../../src/gearman/refusal-log.js';
import { createSilentLogger } from '../../../src/log.js';

/** A response frame (the decoder reads "\0RES" frames; encodeRequest writes "\0REQ"). */
function response(type: number, args: Array<Buffer | string>): Buffer {
  const f = encodeRequest(type as never, args);
  f.write('\0RES', 0, 'latin1');
  return f;
}

const stream = Buffer.concat([
  response(Packet.JOB_ASSIGN, ['H:x:1', 'run@server1', Buffer.from([0, 1, 2, 0, 255])]),
  response(Packet.NOOP, []),
  response(99, ['unknown type body']),
  response(Packet.WORK_COMPLETE, ['H:x:2', 'done\0with NUL']),
]);

function decodeAll(chunks: Buffer[], d = new PacketDecoder()) {
  return chunks.flatMap((c) => d.push(c));
}

describe('PacketDecoder', () => {
  it('decodes the same packets whatever byte offset the stream is split at', () => {
    const whole = decodeAll([stream]);
    expect(whole.map((p) => p.type)).toEqual([Packet.JOB_ASSIGN, Packet.NOOP, 99, Packet.WORK_COMPLETE]);
    expect(whole[0]!.args.map((a) => a.toString('latin1'))).toEqual(['H:x:1', 'run@server1', '\0\x01\x02\0\xff']);
    expect(whole[3]!.args[1]!.toString()).toBe('done\0with NUL');
    for (let i = 0; i <= stream.length; i++) {
      const split = decodeAll([stream.subarray(0, i), stream.subarray(i)]);
      expect(split, `split at ${i}`).toEqual(whole);
    }
    // And one byte at a time.
    expect(decodeAll([...stream].map((b) => Buffer.from([b])))).toEqual(whole);
  });

  it('passes a packet of an unknown type on as one argument and stays in step with the stream', () => {
    const d = new PacketDecoder();
    const out = d.push(Buffer.concat([response(77, ['a\0b']), response(Packet.NO_JOB, [])]));
    expect(out).toEqual([
      { type: 77, args: [Buffer.from('a\0b')] },
      { type: Packet.NO_JOB, args: [] },
    ]);
    expect(d.pending).toBe(0);
  });

  it('refuses a header announcing more than the limit before reading its body', () => {
    const d = new PacketDecoder(1024);
    const head = Buffer.alloc(12);
    head.write('\0RES', 0, 'latin1');
    head.writeUInt32BE(Packet.JOB_ASSIGN, 4);
    head.writeUInt32BE(128 * 1024 * 1024, 8);
    let err: unknown;
    try {
      d.push(head);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameRefusedError);
    expect(err).toMatchObject({ reason: 'oversized', size: 12 + 128 * 1024 * 1024 });
    // A frame just at the limit is taken.
    const atLimit = response(Packet.WORK_DATA, ['H:x:1', Buffer.alloc(1024 - 12 - 6)]);
    expect(atLimit.length).toBe(1024);
    expect(new PacketDecoder(1024).push(atLimit)).toHaveLength(1);
  });

  it('refuses a stream that is not Gearman', () => {
    expect(() => new PacketDecoder().push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(/bad packet magic/);
  });

  it('copies a large frame arriving in many chunks once, not once per chunk', () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    const frame = response(Packet.WORK_COMPLETE, ['H:x:1', body]);
    const d = new PacketDecoder(16 * 1024 * 1024);
    const copied = { bytes: 0 };
    const realConcat = Buffer.concat;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const out = realConcat(list, total);
      copied.bytes += out.length;
      return out;
    }) as typeof Buffer.concat;
    let out;
    try {
      out = [];
      for (let i = 0; i < frame.length; i += 16 * 1024) out.push(...d.push(frame.subarray(i, i + 16 * 1024)));
    } finally {
      Buffer.concat = realConcat;
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.args[1]!.equals(body)).toBe(true);
    // Re-concatenating on every chunk copied ~ n²/2 bytes (here about 2 GB); headers spanning chunks copy 12 bytes.
    expect(copied.bytes).toBeLessThan(frame.length);
  });
});

describe('refusal log', () => {
  it('logs one summary line per interval with the counts, however many frames are refused', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createSilentLogger();
    logger.warn = ((obj: Record<string, unknown>) => void lines.push(obj)) as typeof logger.warn;
    let t = 1_000_000;
    const log = createRefusalLog({ logger, intervalMs: 60_000, now: () => t });
    log.refused({ server: 'g1:4730', reason: 'oversized', size: 134_217_740 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'frame_refused', count: 1, byReason: { oversized: 1 } });
    for (let i = 0; i < 10_000; i++) log.refused({ server: 'g1:4730', reason: i % 2 ? 'oversized' : 'bad_magic' });
    t += 59_999;
    log.refused({ server: 'g2:4730', reason: 'oversized' });
    expect(lines).toHaveLength(1);
    t += 1;
    log.refused({ server: 'g1:4730', reason: 'oversized' });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      event: 'frame_refused',
      count: 10_002,
      byReason: { oversized: 5_002, bad_magic: 5_000 },
      servers: ['g1:4730', 'g2:4730'],
    });
    log.refused({ server: 'g1:4730', reason: 'oversized' });
    log.flush();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ count: 1 });
  });
});
