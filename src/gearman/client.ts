/**
 * A Gearman client for foreground jobs over one connection per job server,
 * with per-job time-outs, fail-over between servers, and no hanging job:
 * a connection lost mid-job rejects that job at once.
 */
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { GearmanConnection, RECONNECT_PRESETS, type ReconnectPreset } from './connection.js';
import { serverErrorPacket, toGearmanError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, Packet, type ResponsePacket } from './protocol.js';
import { createRefusalLog } from './refusal-log.js';

/** Options of one submission. */
export interface SubmitOptions {
  timeoutMs: number;
  onData?(b: Buffer): void;
  onStatus?(n: number, d: number): void;
  onWarning?(b: Buffer): void;
  signal?: AbortSignal;
  unique?: string;
  /** Try these servers first (e.g. those where a worker is known to be registered). */
  prefer?: string[];
}

/** The answer of a completed job. */
export interface SubmitResult {
  handle: string;
  server: string;
  data: Buffer;
}

/** A Gearman client. */
export interface GearmanClient {
  submit(fn: string, payload: Buffer | string, opts: SubmitOptions): Promise<SubmitResult>;
  close(): Promise<void>;
}

interface Job {
  fn: string;
  handle?: string;
  opts: SubmitOptions;
  resolve(r: SubmitResult): void;
  reject(e: Error): void;
  done: boolean;
  warnings: string[];
}

/**
 * Creates a client for the given job servers ("host:port"). Over 80 lines as a factory: the frame handlers and methods share the connections and the jobs in flight; each is short.
 */
export function createGearmanClient(opts: {
  servers: string[];
  logger: Logger;
  preset?: ReconnectPreset;
  /** The largest frame read from a job server (a result, streamed output); a larger one closes that connection. */
  maxFrameBytes?: number;
  /** Told when a job server connection comes up or goes down (metrics). */
  onConnection?: (server: string, up: boolean) => void;
}): GearmanClient {
  const preset = opts.preset ?? RECONNECT_PRESETS.default;
  const log = opts.logger.child({ component: 'gearman-client' });
  const limits = {
    maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    refusals: createRefusalLog({ logger: log }),
  };
  const conns = opts.servers.map((server) => {
    const conn = new GearmanConnection(server, preset, true, limits);
    const awaitingHandle: Job[] = [];
    const byHandle = new Map<string, Job>();
    const failAll = (why: string) => {
      for (const j of [...awaitingHandle, ...byHandle.values()])
        finish(j, new GearopsError(ErrorCode.JobFailed, `${j.fn}: ${why}`, { data: { server, connectionLost: true } }));
      awaitingHandle.length = 0;
      byHandle.clear();
    };
    conn.on('connect', () => opts.onConnection?.(server, true));
    conn.on('close', (err?: Error) => {
      opts.onConnection?.(server, false);
      if (awaitingHandle.length || byHandle.size)
        log.warn({ server, err: err?.message }, 'connection lost with jobs in flight');
      failAll(`the connection to job server ${server} was lost mid-job${err ? ` (${err.message})` : ''}`);
    });
    conn.on('packet', (p: ResponsePacket) => {
      const handle = p.args[0]?.toString('utf8') ?? '';
      switch (p.type) {
        case Packet.JOB_CREATED: {
          const j = awaitingHandle.shift();
          if (!j) return;
          j.handle = handle;
          if (!j.done) byHandle.set(handle, j);
          return;
        }
        case Packet.ERROR: {
          const j = awaitingHandle.shift();
          if (j) finish(j, serverErrorPacket(server, j.fn, handle, p.args[1]?.toString('utf8') ?? ''));
          return;
        }
      }
      const j = byHandle.get(handle);
      if (!j) return; // late packet of a job that timed out: nothing waits for it any more.
      switch (p.type) {
        case Packet.WORK_DATA:
          j.opts.onData?.(p.args[1] ?? Buffer.alloc(0));
          break;
        case Packet.WORK_WARNING:
          j.warnings.push((p.args[1] ?? Buffer.alloc(0)).toString('utf8'));
          j.opts.onWarning?.(p.args[1] ?? Buffer.alloc(0));
          break;
        case Packet.WORK_STATUS:
          j.opts.onStatus?.(Number(p.args[1]?.toString() ?? 0), Number(p.args[2]?.toString() ?? 0));
          break;
        case Packet.WORK_COMPLETE:
          byHandle.delete(handle);
          finishOk(j, { handle, server, data: p.args[1] ?? Buffer.alloc(0) });
          break;
        case Packet.WORK_FAIL:
          byHandle.delete(handle);
          finish(
            j,
            new GearopsError(
              ErrorCode.JobFailed,
              `${j.fn} failed on the worker${j.warnings.length ? `: ${j.warnings.join('; ')}` : ''}`,
              // Unsigned text from whatever process took the job: the dispatcher labels it, never trusts it.
              { data: { server, handle, workerText: j.warnings.join('; ') } },
            ),
          );
          break;
        case Packet.WORK_EXCEPTION:
          byHandle.delete(handle);
          finish(
            j,
            new GearopsError(
              ErrorCode.JobFailed,
              `${j.fn} failed on the worker: ${(p.args[1] ?? Buffer.alloc(0)).toString('utf8')}`,
              { data: { server, handle, workerText: (p.args[1] ?? Buffer.alloc(0)).toString('utf8') } },
            ),
          );
          break;
      }
    });
    void conn.open().catch(() => undefined);
    return { server, conn, awaitingHandle };
  });

  function finish(j: Job, err: Error): void {
    if (j.done) return;
    j.done = true;
    j.reject(err);
  }
  function finishOk(j: Job, r: SubmitResult): void {
    if (j.done) return;
    j.done = true;
    j.resolve(r);
  }

  async function pick(prefer: string[] | undefined) {
    const ordered = [...conns].sort(
      (a, b) => Number(prefer?.includes(b.server) ?? 0) - Number(prefer?.includes(a.server) ?? 0),
    );
    const up = ordered.find((c) => c.conn.connected);
    if (up) return up;
    // Nothing up yet: give the connect attempts a moment (start-up, or a server restarting). Waiting for the
    // next connect of any connection, not for the first ones: after a restart those resolved long ago.
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const c of conns) c.conn.off('connect', done);
        resolve();
      };
      const timer = setTimeout(done, preset.connectTimeoutMs);
      for (const c of conns) c.conn.on('connect', done);
    });
    const later = ordered.find((c) => c.conn.connected);
    if (later) return later;
    throw new GearopsError(ErrorCode.GearmanUnavailable, `no job server is reachable (${opts.servers.join(', ')})`, {
      data: { servers: opts.servers },
    });
  }

  return {
    async submit(fn, payload, o) {
      if (o.signal?.aborted) throw new GearopsError(ErrorCode.Cancelled, `${fn}: cancelled before it was sent`);
      const c = await pick(o.prefer);
      return new Promise<SubmitResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          finish(
            j,
            new GearopsError(ErrorCode.JobTimeout, `${fn}: no answer within ${Math.round(o.timeoutMs / 1000)} s`, {
              data: { server: c.server },
            }),
          );
        }, o.timeoutMs);
        const onAbort = () => finish(j, new GearopsError(ErrorCode.Cancelled, `${fn}: cancelled`));
        const j: Job = {
          fn,
          opts: o,
          done: false,
          warnings: [],
          resolve: (r) => {
            clearTimeout(timer);
            o.signal?.removeEventListener('abort', onAbort);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            o.signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
        o.signal?.addEventListener('abort', onAbort, { once: true });
        c.awaitingHandle.push(j);
        if (
          !c.conn.send(Packet.SUBMIT_JOB, [
            fn,
            o.unique ?? '',
            typeof payload === 'string' ? Buffer.from(payload) : payload,
          ])
        ) {
          c.awaitingHandle.pop();
          finish(j, toGearmanError(new Error('not connected'), c.server));
        }
      });
    },
    async close() {
      await Promise.all(conns.map((c) => c.conn.close()));
      limits.refusals.flush();
    },
  };
}
