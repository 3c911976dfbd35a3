/**
 * One TCP connection to one job server, with TCP_NODELAY (without it every
 * request/response round trip waits on Nagle plus delayed ACK) and an
 * optional reconnect loop with backoff.
 */
import { EventEmitter } from 'node:events';
import { Socket, connect } from 'node:net';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeRequest,
  FrameRefusedError,
  PacketDecoder,
  parseServer,
  type PacketType,
  type ResponsePacket,
} from './protocol.js';
import type { RefusalLog } from './refusal-log.js';

/** Limits of one connection: the largest frame it reads, and where refusals are counted. */
export interface FrameLimits {
  maxFrameBytes?: number;
  refusals?: RefusalLog;
  /**
   * Last words before a connection closes over a refused frame: packets sent first (a worker fails the
   * oversized job by its handle, or gearmand would hand the same job out again on every reconnect).
   */
  lastWords?(err: FrameRefusedError): Array<{ type: PacketType; args: Array<Buffer | string> }>;
}

/** Backoff between reconnect attempts. */
export interface ReconnectPreset {
  initialMs: number;
  maxMs: number;
  connectTimeoutMs: number;
}

/** Reconnect presets: default for production, fast for tests. */
export const RECONNECT_PRESETS: Record<'default' | 'fast', ReconnectPreset> = {
  default: { initialMs: 100, maxMs: 5000, connectTimeoutMs: 5000 },
  fast: { initialMs: 50, maxMs: 500, connectTimeoutMs: 2000 },
};

/**
 * Events: 'connect' (each time the socket is up), 'packet' (ResponsePacket),
 * 'close' (Error | undefined) each time it drops.
 */
export class GearmanConnection extends EventEmitter {
  readonly server: string;
  private socket: Socket | null = null;
  private decoder: PacketDecoder;
  private closed = false;
  /** Set when the last connection was closed for a refused frame: the reconnect backoff keeps growing then. */
  private refusedLast = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Whether writes of this turn are being gathered into one (see send). */
  private corked = false;
  connected = false;

  constructor(
    server: string,
    private readonly preset: ReconnectPreset,
    private readonly reconnect: boolean,
    private readonly limits: FrameLimits = {},
  ) {
    super();
    this.server = server;
    this.decoder = new PacketDecoder(limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  }

  /** Connects (and keeps reconnecting when asked to); resolves on the first successful connect or rejects on the first failure. */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      const onConnect = () => {
        if (first) {
          first = false;
          this.removeListener('close', onClose);
          resolve();
        }
      };
      const onClose = (err?: Error) => {
        if (first && !this.reconnect) {
          first = false;
          this.removeListener('connect', onConnect);
          reject(err ?? new Error(`connection to ${this.server} closed`));
        }
      };
      this.once('connect', onConnect);
      this.on('close', onClose);
      this.dial();
    });
  }

  private dial(): void {
    if (this.closed) return;
    const { host, port } = parseServer(this.server);
    const socket = connect({ host, port });
    this.socket = socket;
    this.decoder = new PacketDecoder(this.limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(this.preset.connectTimeoutMs);
    let failure: Error | undefined;
    socket.once('connect', () => {
      socket.setTimeout(0);
      // A job server that keeps sending a refused frame (gearmand re-hands the job) is retried ever more slowly.
      if (!this.refusedLast) this.attempt = 0;
      this.refusedLast = false;
      this.connected = true;
      this.emit('connect');
    });
    socket.on('timeout', () => {
      failure = new Error(`connect to ${this.server} timed out`);
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      let packets: ResponsePacket[];
      try {
        packets = this.decoder.push(chunk);
      } catch (err) {
        failure = err as Error;
        if (err instanceof FrameRefusedError) {
          this.refusedLast = true;
          this.limits.refusals?.refused({ server: this.server, reason: err.reason, size: err.size });
          const words = this.limits.lastWords?.(err) ?? [];
          if (words.length > 0) {
            // Nothing more is read (the rest of the frame stays in the kernel's buffer); what is said leaves first.
            socket.pause();
            this.connected = false;
            socket.end(Buffer.concat(words.map((w) => encodeRequest(w.type, w.args))));
            setTimeout(() => socket.destroy(), 500).unref();
            return;
          }
        }
        // Nothing more is read from a stream given up on: the rest of an oversized frame is never buffered.
        socket.destroy();
        return;
      }
      for (const p of packets) this.emit('packet', p);
    });
    socket.on('error', (err) => {
      failure = err;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.connected = false;
      this.socket = null;
      this.emit('close', failure);
      if (this.reconnect && !this.closed) {
        const delay = Math.min(this.preset.maxMs, this.preset.initialMs * 2 ** this.attempt++);
        this.retryTimer = setTimeout(() => this.dial(), delay);
      }
    });
  }

  /**
   * Sends one request; false when not connected. Requests sent in one turn of the event loop leave in one
   * write (a worker's WORK_COMPLETE and its next GRAB_JOB are one segment, not two: TCP_NODELAY is on).
   */
  send(type: PacketType, args: Array<Buffer | string> = []): boolean {
    const socket = this.socket;
    if (!socket || !this.connected) return false;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(encodeRequest(type, args));
    return true;
  }

  /** Closes for good (no reconnect). */
  close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.socket;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('close', () => resolve());
      s.end();
      setTimeout(() => s.destroy(), 500).unref();
    });
  }
}
