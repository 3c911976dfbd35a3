/**
 * What every request from Slack passes before it runs: taken once (Slack's retries and replays of an accepted
 * request are dropped, across instances and restarts when the store answers), and answered through its
 * response_url only when that URL is on an allowed origin.
 */
import type { Logger } from '../../log.js';
import type { InteractionStore } from '../../core/ports/store.js';
import { isAllowedResponseUrl } from './requests.js';

/** The gate's two checks. */
export interface RequestGate {
  /**
   * True the first time any of these keys is seen, here and (with a store) anywhere. If the store does not answer,
   * this instance's own memory decides (logged: a retry reaching another may run twice).
   */
  firstEverywhere(keys: Array<string | undefined>): Promise<boolean>;
  /**
   * Bolt's respond() for this request if its response_url is on Slack's hosts; else none, and answers go through
   * the Web API (a forged body must not make the bot post to a URL of its choice).
   */
  respondVia<R>(url: unknown, respond: R): R | undefined;
}

/** Creates the gate of one bot instance. */
export function createRequestGate(opts: {
  interactions?: InteractionStore;
  responseOrigins: readonly string[];
  log: Logger;
}): RequestGate {
  const { log } = opts;
  const seen = new Map<string, number>();
  /** Remembers request keys for 10 minutes; false when one was already seen (a Slack retry, or a replay). */
  const firstTime = (keys: readonly string[]) => {
    const now = Date.now();
    for (const [k, t] of seen) if (now - t > 600_000) seen.delete(k);
    if (keys.some((k) => seen.has(k))) return false;
    for (const k of keys) seen.set(k, now);
    return true;
  };
  return {
    async firstEverywhere(keys) {
      const ks = keys.filter((k): k is string => !!k);
      if (!firstTime(ks)) return false;
      if (!opts.interactions) return true;
      try {
        return await opts.interactions.claim(ks);
      } catch (err) {
        log.warn(
          { event: 'slack_claim_failed', err: (err as Error).message },
          'the store did not answer: this request is deduplicated by this instance only',
        );
        return true;
      }
    },
    respondVia(url, respond) {
      if (isAllowedResponseUrl(url, opts.responseOrigins)) return respond;
      if (url === undefined) return undefined;
      log.warn(
        { event: 'slack_response_url_refused', origin: originOf(url) },
        'response_url is not on an allowed origin: answering through the Web API instead',
      );
      return undefined;
    },
  };
}

/** The signed request's key Bolt's context carries in HTTP mode (see customPropertiesExtractor). */
export function signed(context: Record<string, unknown>): string | undefined {
  return typeof context.gearopsSignatureKey === 'string' ? context.gearopsSignatureKey : undefined;
}

/** The origin of a URL for the log (never the whole URL: a response_url is a credential for its request). */
function originOf(url: unknown): string {
  try {
    return typeof url === 'string' ? new URL(url).origin : typeof url;
  } catch {
    return 'not a URL';
  }
}
