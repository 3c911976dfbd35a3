/** One job on one host for a cluster sequence, with the worker's refusal turned into an error naming the host. */
import { ErrorCode, GearopsError } from '../errors.js';
import type { Dispatcher, Requester } from '../core/ports/dispatcher.js';
import type { ArgsOf, CapabilityName, ValueOf } from '../core/capabilities.js';

/** Options of one job: progress steps as text, its time-out, and its id when the caller needs it beforehand. */
export interface JobOptions {
  onStep?: (text: string) => void;
  timeoutMs?: number;
  id?: string;
}

/** Runs `capability@host` and resolves with its value; rejects with the worker's error, host first. */
export type RunJob = <N extends CapabilityName>(
  capability: N,
  host: string,
  args: ArgsOf<N>,
  opts?: JobOptions,
) => Promise<ValueOf<N>>;

/** Jobs signed for `requester` (the worker re-checks its policy with it). */
export function createJobRunner(dispatcher: Pick<Dispatcher, 'submit'>, requester: Requester): RunJob {
  return async <N extends CapabilityName>(
    capability: N,
    host: string,
    args: ArgsOf<N>,
    opts: JobOptions = {},
  ): Promise<ValueOf<N>> => {
    const { onStep, timeoutMs, id } = opts;
    const r = await dispatcher.submit({
      capability,
      host,
      args,
      ...(id ? { id } : {}),
      requester,
      timeoutMs: timeoutMs ?? 30_000,
      onEvent: (ev) => {
        if (ev.type === 'step' && onStep)
          onStep(
            `${ev.step}${ev.state === 'ok' ? ' ✓' : ev.state === 'fail' ? ' ✗' : '…'}${ev.detail ? ` ${ev.detail}` : ''}`,
          );
        else if (ev.type === 'rerun' && onStep)
          onStep(`the worker on ${host} was replaced mid-job; installing there again…`);
      },
    });
    if (!r.ok || r.value === null) {
      const message = r.error?.message ?? 'no result';
      // Worker errors name their host already ("server2: port 24001 is taken").
      throw new GearopsError(
        r.error?.code ?? ErrorCode.Sandbox,
        message.startsWith(`${host}:`) ? message : `${host}: ${message}`,
        { data: { host, capability } },
      );
    }
    return r.value;
  };
}
