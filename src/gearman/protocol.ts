/**
 * Gearman's binary protocol: packet types, encoding and a streaming decoder.
 *
 * Why the project's own codec and not gearman-node's: gearman-node 2.0.13
 * writes one command per socket write callback (no pipelining), its base
 * class turns reconnecting off after the first socket error, its client
 * matches JOB_CREATED to submissions by a queue that desynchronises after a
 * reconnect and throws (crashing the process) on a packet for an unknown
 * handle, it never sets TCP_NODELAY (measured: ~23 jobs/s round trips), and
 * it has no timeouts and no admin protocol. Only the last two could be fixed
 * from outside; the rest live inside its private packet loop. See README.
 */

/** Packet types used by gearops (numbers from gearmand's PROTOCOL document). */
export const Packet = {
  CAN_DO: 1,
  CANT_DO: 2,
  RESET_ABILITIES: 3,
  PRE_SLEEP: 4,
  NOOP: 6,
  SUBMIT_JOB: 7,
  JOB_CREATED: 8,
  GRAB_JOB: 9,
  NO_JOB: 10,
  JOB_ASSIGN: 11,
  WORK_STATUS: 12,
  WORK_COMPLETE: 13,
  WORK_FAIL: 14,
  ECHO_REQ: 16,
  ECHO_RES: 17,
  ERROR: 19,
  SUBMIT_JOB_HIGH: 21,
  SET_CLIENT_ID: 22,
  WORK_EXCEPTION: 25,
  OPTION_REQ: 26,
  OPTION_RES: 27,
  WORK_DATA: 28,
  WORK_WARNING: 29,
  GRAB_JOB_UNIQ: 30,
  JOB_ASSIGN_UNIQ: 31,
} as const;

/** Numeric packet type. */
export type PacketType = (typeof Packet)[keyof typeof Packet];

const REQ = 0x00524551; // "\0REQ"
const RES = 0x00524553; // "\0RES"

/** How many NUL-separated arguments each response carries (the last may contain NULs). */
const RESPONSE_ARGS: Record<number, number> = {
  [Packet.NOOP]: 0,
  [Packet.NO_JOB]: 0,
  [Packet.JOB_CREATED]: 1,
  [Packet.JOB_ASSIGN]: 3,
  [Packet.JOB_ASSIGN_UNIQ]: 4,
  [Packet.WORK_STATUS]: 3,
  [Packet.WORK_COMPLETE]: 2,
  [Packet.WORK_FAIL]: 1,
  [Packet.WORK_DATA]: 2,
  [Packet.WORK_WARNING]: 2,
  [Packet.WORK_EXCEPTION]: 2,
  [Packet.ECHO_RES]: 1,
  [Packet.ERROR]: 2,
  [Packet.OPTION_RES]: 1,
};

/** A decoded response packet. */
export interface ResponsePacket {
  type: number;
  args: Buffer[];
}

/** Encodes a request packet. */
export function encodeRequest(type: PacketType, args: Array<Buffer | string> = []): Buffer {
  const parts = args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'utf8') : a));
  const size = parts.reduce((n, p) => n + p.length, 0) + Math.max(0, parts.length - 1);
  const out = Buffer.allocUnsafe(12 + size);
  out.writeUInt32BE(REQ, 0);
  out.writeUInt32BE(type, 4);
  out.writeUInt32BE(size, 8);
  let pos = 12;
  parts.forEach((p, i) => {
    p.copy(out, pos);
    pos += p.length;
    if (i < parts.length - 1) out[pos++] = 0;
  });
  return out;
}

/** Splits a body into `count` arguments; the last keeps any NULs. */
export function splitArgs(body: Buffer, count: number): Buffer[] {
  if (count === 0) return [];
  const args: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < count - 1; i++) {
    const nul = body.indexOf(0, start);
    if (nul < 0) {
      args.push(body.subarray(start));
      start = body.length;
      continue;
    }
    args.push(body.subarray(start, nul));
    start = nul + 1;
  }
  args.push(body.subarray(Math.min(start, body.length)));
  return args;
}

/** Default largest frame either side accepts (header included); a setting overrides it (GEAROPS_MAX_FRAME_BYTES). */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Why a stream was refused: its next frame is not Gearman, or announces more bytes than allowed. */
export class FrameRefusedError extends Error {
  constructor(
    readonly reason: 'oversized' | 'bad_magic',
    message: string,
    /** The announced frame size (header included), for 'oversized'. */
    readonly size?: number,
    /** The refused packet's type, and the first bytes of its body already received (a job's handle), if any. */
    readonly packet?: { type: number; prefix: Buffer },
  ) {
    super(message);
    this.name = 'FrameRefusedError';
  }
}

/**
 * Incremental decoder of response packets from a byte stream. Chunks are kept as they come and each frame's
 * bytes are copied once, when the frame is complete: a large frame arriving in many chunks costs linear time
 * (re-concatenating on every chunk cost quadratic time: 76 s of CPU for 128 MB). A header announcing more than
 * `maxFrameBytes` is refused before its body is read.
 */
export class PacketDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Feeds bytes; returns the complete packets. Throws FrameRefusedError on a stream to give up on. */
  push(chunk: Buffer): ResponsePacket[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: ResponsePacket[] = [];
    while (this.buffered >= 12) {
      const head = this.peek(12);
      if (head.readUInt32BE(0) !== RES)
        throw new FrameRefusedError('bad_magic', 'out of sync with the job server (bad packet magic)');
      const total = 12 + head.readUInt32BE(8);
      if (total > this.maxFrameBytes) {
        const prefix = this.peek(Math.min(this.buffered, 12 + 512)).subarray(12);
        throw new FrameRefusedError(
          'oversized',
          `frame of ${total} bytes announced, over the ${this.maxFrameBytes}-byte limit`,
          total,
          { type: head.readUInt32BE(4), prefix: Buffer.from(prefix) },
        );
      }
      if (this.buffered < total) break;
      const type = head.readUInt32BE(4);
      const body = this.take(total).subarray(12);
      out.push({ type, args: splitArgs(body, RESPONSE_ARGS[type] ?? 1) });
    }
    return out;
  }

  /** Bytes held for a frame not complete yet. */
  get pending(): number {
    return this.buffered;
  }

  /** The first `n` buffered bytes, without consuming them (a copy only when they span chunks). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks, n);
  }

  /** Consumes the first `n` buffered bytes into a buffer of their own (the frame's one copy). */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0]!;
      const want = n - pos;
      if (c.length <= want) {
        c.copy(out, pos);
        pos += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, pos, 0, want);
        this.chunks[0] = c.subarray(want);
        pos += want;
      }
    }
    this.buffered -= n;
    return out;
  }
}

/** Parses "host:port". */
export function parseServer(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`not host:port: ${s}`);
  return { host: s.slice(0, i), port };
}
