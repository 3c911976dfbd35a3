/**
 * The one way tests wait: for a condition or for an event, never for a fixed time. A time-out here only bounds a
 * wait that went wrong; what a test asserts is the condition, never a duration.
 */
import type { ReplicationMonitor } from '../../src/monitor/monitor.js';

/**
 * How `until` polls: every `every` ms (default 50); `label` names the condition in the time-out error, and
 * `explain` adds what was seen meanwhile (a process's log), read only when the wait times out.
 */
export interface UntilOptions {
  every?: number;
  label?: string;
  explain?: () => string;
}

/** Polls `what` until it holds; throws after `ms`. */
export async function until(
  what: () => boolean | Promise<boolean>,
  ms = 20_000,
  opts: UntilOptions = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${ms} ms waiting for: ${opts.label ?? what.toString().slice(0, 160)}` +
          (opts.explain ? `\n${opts.explain()}` : ''),
      );
    await new Promise((r) => setTimeout(r, opts.every ?? 50));
  }
}

/**
 * Resolves once `monitor` has run `n` whole poll cycles that began after this call (the cycle under way when it is
 * called does not count). This is how a test gives the monitor its chances to do something it must not do.
 */
export function pollCycles(monitor: Pick<ReplicationMonitor, 'onCycle'>, n = 2, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let ends = 0;
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${n} poll cycles`));
    }, ms);
    const off = monitor.onCycle(() => {
      if (++ends <= n) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Resolves once `count` lines matching `re` have appeared in `out()` past what it held when called. */
export async function newLines(out: () => string, re: RegExp, count: number, ms = 30_000): Promise<void> {
  const from = out().length;
  await until(
    () =>
      out()
        .slice(from)
        .split('\n')
        .filter((l) => re.test(l)).length >= count,
    ms,
    {
      label: `${count} lines matching ${re}`,
    },
  );
}
