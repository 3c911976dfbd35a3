/**
 * The Dispatcher port over Gearman: signs each job, fails fast when no
 * worker is registered for `<capability>@<host>` (from gearmand's admin
 * `status`) instead of queueing a job nobody will take, verifies every
 * streamed event and the result, and discovers live hosts. A job whose job
 * server goes away under it is sent again once a worker for it is back,
 * within the job's time limit; the worker that already has it answers with
 * that run rather than running it twice.
 */
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../errors.js';
import { signJob, verifyEvent, verifyResult, type JobEnvelope } from '../core/payload.js';
import { openFrom } from '../core/sealed.js';
import type { Dispatcher, HostInfo, JobRequest, JobResult } from '../core/ports/dispatcher.js';
import { adminStatus, type FunctionStatus } from './admin.js';
import { createGearmanClient } from './client.js';
import { RECONNECT_PRESETS } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES } from './protocol.js';
import { functionName, parseFunctionName } from './names.js';

/** How many times one job is sent at most when job servers go away under it. */
const MAX_SENDS = 5;

/** Time-outs and caching of the dispatcher. */
export interface DispatchPreset {
  /** How long an admin `status` answer is trusted. */
  discoveryTtlMs: number;
  adminTimeoutMs: number;
  defaultJobTimeoutMs: number;
  reconnect: keyof typeof RECONNECT_PRESETS;
}

/** Named presets: default for the bot, fast for tests. */
export const DISPATCH_PRESETS: Record<'default' | 'fast', DispatchPreset> = {
  default: { discoveryTtlMs: 1000, adminTimeoutMs: 1500, defaultJobTimeoutMs: 60_000, reconnect: 'default' },
  fast: { discoveryTtlMs: 100, adminTimeoutMs: 1000, defaultJobTimeoutMs: 15_000, reconnect: 'fast' },
};

/** The most of an unverified worker text shown, once made inert. */
const UNVERIFIED_CHARS = 300;

/**
 * Text nobody signed, made harmless to show: control characters dropped, `<`, `>`, `&`, `@` and backticks
 * replaced by look-alikes (so no mention, channel ping, link or code span can come out of it), and cut.
 */
export function inertText(text: string, max = UNVERIFIED_CHARS): string {
  const flat = text
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/</g, '‹')
    .replace(/>/g, '›')
    .replace(/&/g, '＆')
    .replace(/@/g, '＠')
    .replace(/`/g, 'ʼ')
    .trim();
  return flat.length <= max ? flat : `${flat.slice(0, max)}…`;
}

/**
 * A WORK_FAIL or WORK_EXCEPTION carries text nobody signed: any process registered under the function
 * (a rogue that took the job first) can write it. It is never passed off as the job's error: it is labelled
 * as what it is, made inert, and coded gearops_unverified_answer.
 */
function unverifiedAnswer(err: unknown, host: string, fn: string): unknown {
  const data = isGearopsError(err) ? (err.data as { workerText?: unknown } | undefined) : undefined;
  if (!isGearopsError(err) || typeof data?.workerText !== 'string') return err;
  const text = inertText(data.workerText);
  return new GearopsError(
    ErrorCode.UnverifiedAnswer,
    `unverified answer from a process claiming to be ${host}${text ? `: “${text}”` : ' (no text)'}` +
      ' — it failed the job without a signature; the real worker may not have seen it',
    { cause: err, data: { host, fn } },
  );
}

/** Creates the Gearman dispatcher. */
export function createGearmanDispatcher(opts: {
  servers: string[];
  secret: string;
  logger: Logger;
  preset?: keyof typeof DISPATCH_PRESETS | DispatchPreset;
  /** The largest frame read from a job server (GEAROPS_MAX_FRAME_BYTES); results up to it are verified. */
  maxFrameBytes?: number;
  /** Told when a job server connection comes up or goes down (metrics). */
  onConnection?: (server: string, up: boolean) => void;
}): Dispatcher {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const preset = typeof opts.preset === 'object' ? opts.preset : DISPATCH_PRESETS[opts.preset ?? 'default'];
  const log = opts.logger.child({ component: 'dispatcher' });
  const client = createGearmanClient({
    servers: opts.servers,
    logger: opts.logger,
    preset: RECONNECT_PRESETS[preset.reconnect],
    maxFrameBytes,
    onConnection: opts.onConnection,
  });
  let cache: { at: number; byServer: Map<string, FunctionStatus[]> } | null = null;

  async function discover(fresh: boolean): Promise<Map<string, FunctionStatus[]>> {
    if (!fresh && cache && Date.now() - cache.at < preset.discoveryTtlMs) return cache.byServer;
    const answers = await Promise.allSettled(
      opts.servers.map((s) => adminStatus(s, { timeoutMs: preset.adminTimeoutMs })),
    );
    const byServer = new Map<string, FunctionStatus[]>();
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') byServer.set(opts.servers[i]!, a.value);
    });
    if (byServer.size === 0) {
      throw new GearopsError(
        ErrorCode.GearmanUnavailable,
        `no job server answers (${opts.servers.join(', ')}): is gearmand running?`,
        { data: { servers: opts.servers } },
      );
    }
    cache = { at: Date.now(), byServer };
    return byServer;
  }

  function serversWith(map: Map<string, FunctionStatus[]>, fn: string): string[] {
    return [...map].filter(([, list]) => list.some((f) => f.fn === fn && f.availableWorkers > 0)).map(([s]) => s);
  }

  function hostsFrom(map: Map<string, FunctionStatus[]>): HostInfo[] {
    const hosts = new Map<string, { caps: Set<string>; servers: Set<string> }>();
    for (const [server, list] of map) {
      for (const f of list) {
        const parsed = parseFunctionName(f.fn);
        if (!parsed || f.availableWorkers <= 0) continue;
        const h = hosts.get(parsed.host) ?? { caps: new Set(), servers: new Set() };
        h.caps.add(parsed.capability);
        h.servers.add(server);
        hosts.set(parsed.host, h);
      }
    }
    return [...hosts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([host, h]) => ({ host, capabilities: [...h.caps].sort(), servers: [...h.servers].sort() }));
  }

  /** Waits until a job server again has a worker for `fn` (a restarted gearmand, or another in the list). */
  async function waitForWorker(fn: string, deadline: number, signal?: AbortSignal): Promise<string[]> {
    for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
      const where = serversWith(await discover(true).catch(() => new Map<string, FunctionStatus[]>()), fn);
      if (where.length) return where;
      if (signal?.aborted || Date.now() + wait >= deadline)
        throw new GearopsError(
          ErrorCode.GearmanUnavailable,
          `${fn}: the job server went away mid-job and no worker for it was back in time`,
          { data: { fn } },
        );
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** The job servers that have a worker for capability@host (a cached look first, a fresh one on a miss); throws gearops_no_worker when none has. */
  async function locate(host: string, capability: string): Promise<string[]> {
    const fn = functionName(capability, host);
    let where = serversWith(await discover(false), fn);
    if (where.length === 0) where = serversWith(await discover(true), fn);
    if (where.length === 0) {
      const live = hostsFrom(cache?.byServer ?? new Map()).map((h) => h.host);
      throw new GearopsError(
        ErrorCode.NoWorker,
        `no worker for \`${fn}\` on ${opts.servers.join(', ')} — live hosts: ${live.length ? live.join(', ') : 'none'}`,
        { data: { host, capability } },
      );
    }
    return where;
  }

  return {
    async reachable(host, capability) {
      await locate(host, capability);
    },
    async submit<V>(req: JobRequest): Promise<JobResult<V>> {
      const fn = functionName(req.capability, req.host);
      let where = await locate(req.host, req.capability);
      const timeoutMs = req.timeoutMs ?? preset.defaultJobTimeoutMs;
      const started = Date.now();
      const deadline = started + timeoutMs;
      let forged: GearopsError | null = null;
      let seq = -1;
      // The execution whose events are being followed, and those given up (a dead worker's run never comes back).
      let run: string | null = null;
      const pastRuns = new Set<string>();
      let envelope: JobEnvelope | null = null;
      let out: Awaited<ReturnType<typeof client.submit>> | null = null;
      for (let attempt = Math.max(1, req.firstAttempt ?? 1); !out; attempt++) {
        const signed: { envelope: JobEnvelope; payload: string } = signJob(opts.secret, {
          host: req.host,
          capability: req.capability,
          requester: req.requester,
          args: req.args,
          id: envelope?.id ?? req.jobId ?? req.id,
          attempt,
        });
        envelope = signed.envelope;
        const jobId = signed.envelope.id;
        try {
          out = await client.submit(fn, signed.payload, {
            timeoutMs: Math.max(1, deadline - Date.now()),
            signal: req.signal,
            prefer: where,
            unique: `${jobId}#${attempt}`,
            onData: (b) => {
              try {
                const ev = verifyEvent(opts.secret, openFrom(opts.secret, jobId, b), jobId, {
                  maxBytes: maxFrameBytes,
                });
                const r = ev.run ?? '';
                if (run === null) run = r;
                else if (r !== run) {
                  // The worker running it died and the job server gave the job to another, which starts it again.
                  if (pastRuns.has(r))
                    throw new GearopsError(ErrorCode.BadResult, 'event of an earlier run of this job');
                  pastRuns.add(run);
                  run = r;
                  seq = -1;
                  log.warn(
                    { event: 'job_rerun', fn, job: jobId },
                    'the job started again on another worker process; following the new run',
                  );
                  req.onEvent?.({ type: 'rerun' });
                }
                if (ev.seq <= seq) {
                  // A resend replays what the worker already sent: drop what arrived before.
                  if (attempt > 1) return;
                  throw new GearopsError(ErrorCode.BadResult, 'event out of order or repeated');
                }
                seq = ev.seq;
                req.onEvent?.(ev.event);
              } catch (err) {
                forged ??= new GearopsError(
                  ErrorCode.BadResult,
                  `output from ${fn} rejected: ${(err as Error).message} — a worker without the shared secret may be registered under this name`,
                  { cause: err, data: { host: req.host } },
                );
                log.error({ event: 'unverifiable_event', fn }, forged.message);
              }
            },
          });
        } catch (err) {
          // The job server went away with the job: send the same job again (the worker that has it
          // answers with it instead of running it twice), within the request's own time limit.
          const lost =
            isGearopsError(err) && (err.data as { connectionLost?: boolean } | undefined)?.connectionLost === true;
          if (
            !lost ||
            attempt >= (req.firstAttempt ?? 1) + MAX_SENDS - 1 ||
            req.signal?.aborted ||
            Date.now() >= deadline
          )
            throw unverifiedAnswer(err, req.host, fn);
          log.warn(
            { event: 'job_resend', fn, job: jobId, attempt: attempt + 1, err: (err as Error).message },
            'job server lost mid-job; sending the job again once one is back',
          );
          where = await waitForWorker(fn, deadline, req.signal);
        }
      }
      if (forged) throw forged;
      const job = { id: envelope!.id, host: req.host, capability: req.capability };
      let opened: string;
      try {
        opened = openFrom(opts.secret, job.id, out.data);
      } catch (err) {
        throw new GearopsError(
          ErrorCode.BadResult,
          `result from ${fn} rejected: ${(err as Error).message} — ` +
            'a worker without the shared secret may be registered under this name',
          { cause: err, data: { host: req.host } },
        );
      }
      const result = verifyResult<V>(opts.secret, opened, job, {
        maxBytes: maxFrameBytes,
        to: { host: req.host, capability: req.capability },
      });
      return {
        host: req.host,
        capability: req.capability,
        handle: out.handle,
        ok: result.ok,
        value: result.value,
        error: result.error,
        durationMs: Date.now() - started,
      };
    },
    async hosts() {
      return hostsFrom(await discover(true));
    },
    async ping() {
      try {
        await discover(true);
        return true;
      } catch (err) {
        if (!isGearopsError(err)) throw err;
        return false;
      }
    },
    async close() {
      await client.close();
    },
  };
}
