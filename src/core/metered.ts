/**
 * Metrics around the ports, so that the adapters need no hooks of their own: a dispatcher that counts and
 * times every job, a router that counts every command and button by its decision.
 */
import type { CommandOutcome, CommandRouter } from './ports/commands.js';
import type { Dispatcher } from './ports/dispatcher.js';
import type { Metrics } from './ports/metrics.js';

/** Wraps `inner` so that every job is counted by capability and host, and timed to its verified result. */
export function meteredDispatcher(inner: Dispatcher, metrics: Metrics): Dispatcher {
  return {
    async submit(req) {
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      metrics.jobSubmitted(req.capability, req.host);
      try {
        const r = await inner.submit(req);
        metrics.jobFinished(req.capability, req.host, r.ok ? 'completed' : 'failed', seconds());
        return r;
      } catch (err) {
        metrics.jobFinished(req.capability, req.host, 'failed', seconds());
        throw err;
      }
    },
    reachable: (host, capability) => inner.reachable(host, capability),
    hosts: () => inner.hosts(),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/**
 * Wraps `inner` so that every command is counted by name and decision; a name no module has is counted as
 * `unknown` and buttons as `button`, so that no label carries what someone typed.
 */
export function meteredRouter(inner: CommandRouter, metrics: Metrics): CommandRouter {
  const known = new Set(inner.commands().map((c) => c.name));
  const counted = async (name: string, run: () => Promise<CommandOutcome>) => {
    try {
      const outcome = await run();
      metrics.command(name, outcome.status);
      return outcome;
    } catch (err) {
      metrics.command(name, 'error');
      throw err;
    }
  };
  return {
    dispatch: (inv) => counted(known.has(inv.command) ? inv.command : 'unknown', () => inner.dispatch(inv)),
    dispatchAction: (inv) => counted('button', () => inner.dispatchAction(inv)),
    commands: () => inner.commands(),
  };
}
