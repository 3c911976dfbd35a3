/**
 * A Dispatcher over hosts in memory, for unit tests of the code above the port. It passes the dispatcher's
 * contract (test/unit/ports/dispatcher-conformance.ts) like the Gearman dispatcher does: no worker is refused before
 * anything runs, a worker's thrown GearopsError is an answer with its code (ok false), and time-outs, cancellation
 * and lost job servers reject with the codes the real one uses.
 */
import { ErrorCode, GearopsError, isErrorCode, toGearopsError } from '../../../src/errors.js';
import type { Dispatcher, HostInfo, JobEvent, JobRequest, JobResult } from '../../../src/core/ports/dispatcher.js';

/** What a fake worker does for one capability: its value, or a thrown error (refused or failed on the worker). */
export type FakeHandler = (
  args: unknown,
  job: { host: string; request: JobRequest; emit(event: JobEvent): void; signal: AbortSignal },
) => unknown;

/** Hosts and, for each, the capabilities its fake worker registers. */
export type FakeFleet = Record<string, Record<string, FakeHandler>>;

/** Creates the fake; `requests` records every submit, `down` takes the job servers away. */
export function createFakeDispatcher(
  fleet: FakeFleet,
  opts: { server?: string; defaultTimeoutMs?: number } = {},
): Dispatcher & { requests: JobRequest[]; down: boolean } {
  const server = opts.server ?? '127.0.0.1:4730';
  const requests: JobRequest[] = [];
  let handles = 0;
  const self = {
    requests,
    down: false,
    async reachable(host: string, capability: string) {
      locate(host, capability);
    },
    async submit<V>(req: JobRequest): Promise<JobResult<V>> {
      requests.push(req);
      const handler = locate(req.host, req.capability);
      const fn = `${req.capability}@${req.host}`;
      if (req.signal?.aborted) throw new GearopsError(ErrorCode.Cancelled, `${fn}: cancelled before it was sent`);
      const started = Date.now();
      const worker = new AbortController();
      const timeoutMs = req.timeoutMs ?? opts.defaultTimeoutMs ?? 15_000;
      let timer: NodeJS.Timeout | undefined;
      let onAbort = () => undefined as void;
      const gaveUp = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new GearopsError(ErrorCode.JobTimeout, `${fn}: no answer within ${Math.round(timeoutMs / 1000)} s`)),
          timeoutMs,
        );
        onAbort = () => reject(new GearopsError(ErrorCode.Cancelled, `${fn}: cancelled`));
        req.signal?.addEventListener('abort', onAbort, { once: true });
      });
      const answered = (async () => {
        try {
          const value = await handler(req.args, {
            host: req.host,
            request: req,
            emit: (e) => req.onEvent?.(e),
            signal: worker.signal,
          });
          return { ok: true, value: (value ?? null) as V, error: null };
        } catch (err) {
          const e = toGearopsError(err);
          // As the bot takes a signed error: a code it does not know becomes gearops_job_failed.
          const error = isErrorCode(e.code)
            ? { code: e.code, message: e.message, data: e.data }
            : { code: ErrorCode.JobFailed, message: e.message, data: { ...e.data, workerCode: String(e.code) } };
          return { ok: false, value: null, error };
        }
      })();
      try {
        const out = await Promise.race([answered, gaveUp]);
        return {
          host: req.host,
          capability: req.capability,
          handle: `H:fake:${++handles}`,
          ...out,
          durationMs: Date.now() - started,
        };
      } finally {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        // The bot stopped waiting: the fake worker's run is told (a real one runs on until its own limit).
        worker.abort();
      }
    },
    async hosts(): Promise<HostInfo[]> {
      unavailable();
      return Object.keys(fleet)
        .sort()
        .map((host) => ({ host, capabilities: Object.keys(fleet[host]!).sort(), servers: [server] }));
    },
    ping: async () => !self.down,
    close: async () => undefined,
  };

  function unavailable(): void {
    if (self.down)
      throw new GearopsError(ErrorCode.GearmanUnavailable, `no job server answers (${server}): is gearmand running?`, {
        data: { servers: [server] },
      });
  }

  function locate(host: string, capability: string): FakeHandler {
    unavailable();
    const handler = fleet[host]?.[capability];
    if (handler) return handler;
    const live = Object.keys(fleet).sort();
    throw new GearopsError(
      ErrorCode.NoWorker,
      `no worker for \`${capability}@${host}\` on ${server} — live hosts: ${live.length ? live.join(', ') : 'none'}`,
      { data: { host, capability } },
    );
  }

  return self as typeof self & Dispatcher;
}
