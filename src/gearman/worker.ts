/**
 * A Gearman worker: registers every function on every job server, keeps
 * `concurrency` connections per server (one job at a time each), reconnects
 * and re-registers by itself after a job server restarts, and stops cleanly.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { GearmanConnection, RECONNECT_PRESETS, type FrameLimits, type ReconnectPreset } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES, Packet, type ResponsePacket } from './protocol.js';
import { createRefusalLog } from './refusal-log.js';

/** One job handed to a worker function. */
export interface WorkerJob {
  handle: string;
  functionName: string;
  payload: Buffer;
  server: string;
  /**
   * Which instance of the job server handed the job out (from identifyServer, learned when the connection came
   * up; '' without it). Handles are unique within one instance only: a restarted gearmand counts from 1 again.
   */
  serverInstance: string;
  /** Aborted when the worker stops and the grace period is over. */
  signal: AbortSignal;
  sendData(d: Buffer | string): void;
  sendStatus(n: number, d: number): void;
  sendWarning(d: Buffer | string): void;
}

/** Resolve → WORK_COMPLETE with the value; reject → WORK_WARNING(message) + WORK_FAIL. */
export type WorkerFunction = (job: WorkerJob) => Promise<Buffer | string>;

/** A running worker. Events: 'registered'(server), 'disconnected'(server). */
export interface GearmanWorker extends EventEmitter {
  /** Resolves once registered on at least one server; keeps retrying the others in the background. */
  start(): Promise<void>;
  /** Stops grabbing jobs, lets running ones finish within graceMs, then aborts them and closes. */
  stop(opts?: { graceMs?: number }): Promise<void>;
  readonly registeredOn: string[];
  /** Jobs running now. */
  readonly busy: number;
}

/** Options of a worker. */
export interface GearmanWorkerOptions {
  servers: string[];
  functions: Record<string, WorkerFunction>;
  clientId?: string;
  concurrency?: number;
  logger: Logger;
  preset?: ReconnectPreset;
  /** The largest frame read from a job server (a job); a larger one closes that connection, unread. */
  maxFrameBytes?: number;
  /** Names the job-server instance behind `server`; asked on each (re)connect, before the first grab. Never rejects. */
  identifyServer?: (server: string) => Promise<string>;
}

/**
 * Creates a worker (call start()). Over 80 lines as a factory: the frame handlers and methods share the worker's connections and its job state; each is short.
 */
export function createGearmanWorker(opts: GearmanWorkerOptions): GearmanWorker {
  const log = opts.logger.child({ component: 'gearman-worker' });
  const preset = opts.preset ?? RECONNECT_PRESETS.default;
  const emitter = new EventEmitter() as GearmanWorker;
  const abort = new AbortController();
  let stopping = false;
  let busy = 0;
  const idleWaiters: Array<() => void> = [];
  const registered = new Map<string, number>();
  const slots: GearmanConnection[] = [];
  let firstRegistered: (() => void) | null = null;
  const firstRegistration = new Promise<void>((r) => (firstRegistered = r));
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const limits: FrameLimits = {
    maxFrameBytes,
    refusals: createRefusalLog({ logger: log }),
    // An oversized job is failed by its handle before the connection closes: otherwise gearmand hands the same
    // job out again on every reconnect, and the worker serves nothing else while it is queued.
    lastWords: (err) => {
      const p = err.packet;
      const nul = p && (p.type === Packet.JOB_ASSIGN || p.type === Packet.JOB_ASSIGN_UNIQ) ? p.prefix.indexOf(0) : -1;
      if (!p || nul <= 0) return [];
      const handle = p.prefix.subarray(0, nul);
      const why = `job refused unread: ${err.message} (the worker's --max-frame-bytes)`;
      return [
        { type: Packet.WORK_WARNING, args: [handle, why] },
        { type: Packet.WORK_FAIL, args: [handle] },
      ];
    },
  };

  for (const server of opts.servers) {
    for (let i = 0; i < (opts.concurrency ?? 4); i++) {
      const conn = new GearmanConnection(server, preset, true, limits);
      let jobRunning = false;
      let up = false;
      // The instance behind this connection; null until identified (nothing is grabbed before).
      let instance: string | null = null;
      let generation = 0;
      const grab = () => {
        if (!stopping && !jobRunning && instance !== null) conn.send(Packet.GRAB_JOB);
      };
      conn.on('connect', () => {
        up = true;
        instance = opts.identifyServer ? null : '';
        const gen = ++generation;
        if (opts.identifyServer) {
          void opts.identifyServer(server).then(
            (id) => {
              if (!up || gen !== generation) return;
              instance = id;
              grab();
            },
            (err: Error) => {
              log.error({ event: 'identify_failed', server, err: err.message }, 'cannot tell which job server this is');
            },
          );
        }
        if (opts.clientId) conn.send(Packet.SET_CLIENT_ID, [opts.clientId]);
        for (const fn of Object.keys(opts.functions)) conn.send(Packet.CAN_DO, [fn]);
        const n = (registered.get(server) ?? 0) + 1;
        registered.set(server, n);
        if (n === 1) {
          log.info({ event: 'registered', server, functions: Object.keys(opts.functions) }, 'registered on job server');
          emitter.emit('registered', server);
          firstRegistered?.();
        }
        grab();
      });
      conn.on('close', (err?: Error) => {
        if (!up) return;
        up = false;
        instance = null;
        const n = (registered.get(server) ?? 1) - 1;
        registered.set(server, n);
        if (n === 0 && !stopping) {
          log.warn({ event: 'disconnected', server, err: err?.message }, 'lost the job server; reconnecting');
          emitter.emit('disconnected', server);
        }
      });
      conn.on('packet', (p: ResponsePacket) => {
        if (p.type === Packet.NO_JOB) conn.send(Packet.PRE_SLEEP);
        else if (p.type === Packet.NOOP) grab();
        else if (p.type === Packet.JOB_ASSIGN) {
          const handle = p.args[0]?.toString('utf8') ?? '';
          const fnName = p.args[1]?.toString('utf8') ?? '';
          const payload = p.args[2] ?? Buffer.alloc(0);
          const fn = opts.functions[fnName];
          jobRunning = true;
          busy++;
          const job: WorkerJob = {
            handle,
            functionName: fnName,
            payload,
            server,
            serverInstance: instance ?? '',
            signal: abort.signal,
            sendData: (d) => void conn.send(Packet.WORK_DATA, [handle, typeof d === 'string' ? Buffer.from(d) : d]),
            sendStatus: (n, d) => void conn.send(Packet.WORK_STATUS, [handle, String(n), String(d)]),
            sendWarning: (d) =>
              void conn.send(Packet.WORK_WARNING, [handle, typeof d === 'string' ? Buffer.from(d) : d]),
          };
          const run = fn ? fn(job) : Promise.reject(new Error(`no such function ${fnName}`));
          run
            .then(
              (out) => void conn.send(Packet.WORK_COMPLETE, [handle, typeof out === 'string' ? Buffer.from(out) : out]),
              (err: Error) => {
                conn.send(Packet.WORK_WARNING, [handle, err?.message ?? String(err)]);
                conn.send(Packet.WORK_FAIL, [handle]);
              },
            )
            .finally(() => {
              jobRunning = false;
              busy--;
              if (busy === 0) idleWaiters.splice(0).forEach((w) => w());
              grab();
            });
        }
      });
      slots.push(conn);
    }
  }

  Object.defineProperty(emitter, 'registeredOn', {
    get: () => [...registered].filter(([, n]) => n > 0).map(([s]) => s),
  });
  Object.defineProperty(emitter, 'busy', { get: () => busy });
  emitter.start = async () => {
    for (const s of slots) void s.open().catch(() => undefined);
    await firstRegistration;
  };
  emitter.stop = async (o = {}) => {
    stopping = true;
    // No RESET_ABILITIES here: gearmand drops the WORK_COMPLETE of a running job whose
    // function the connection no longer can do. Not grabbing is enough to take nothing new.
    if (busy > 0) {
      const idle = new Promise<void>((r) => idleWaiters.push(r));
      const grace = new Promise<void>((r) => setTimeout(r, o.graceMs ?? 10_000).unref());
      await Promise.race([idle, grace]);
      if (busy > 0) {
        abort.abort();
        await Promise.race([
          new Promise<void>((r) => idleWaiters.push(r)),
          new Promise((r) => setTimeout(r, 3000).unref()),
        ]);
      }
    }
    // Let the final WORK_* packets leave before the sockets close.
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all(slots.map((s) => s.close()));
    limits.refusals?.flush();
  };
  return emitter;
}
