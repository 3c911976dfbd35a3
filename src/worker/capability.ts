/** What a worker can do: each capability is registered as `<name>@<host>` on every job server. */
import type { Logger } from '../log.js';
import type { JobEnvelope, JobEvent } from '../core/payload.js';

/** Everything a capability handler gets for one verified job. */
export interface CapabilityContext<A = unknown> {
  /** The verified job (requester, id, timestamp). */
  job: JobEnvelope<A>;
  args: A;
  /** Streams a signed event back to the bot (WORK_DATA). */
  emit(event: JobEvent): void;
  /** Aborted on worker shutdown or when the job's time is up. */
  signal: AbortSignal;
  logger: Logger;
}

/**
 * One capability. The handler's resolved value becomes the signed result's
 * `value`; a thrown GearopsError becomes `ok: false` with its code and message.
 * gearmand re-sends a foreground job whose worker disconnected mid-job, so a
 * handler must be safe to run twice or guard against it (say how in its doc).
 */
export interface Capability<A = unknown, V = unknown> {
  name: string;
  handler(ctx: CapabilityContext<A>): Promise<V>;
}
