/**
 * Confirmation questions (Remove? Delete?) that any bot instance can answer. The asking instance waits for the
 * press; a press that reaches another instance is recorded in the store, where the asker finds it. The store
 * decides once what the asker acts on, so a question is acted on exactly once, and every press that does not
 * count is told why.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import { mention } from '../../core/message.js';
import type { ConfirmationPress, InteractionStore } from '../../core/ports/store.js';

/** What a press gets back: the text for the clicker, and whether it replaces the question. */
export interface PressAnswer {
  text: string;
  /** true: the press counted (the question is replaced); false: refused, the question stays. */
  taken: boolean;
}

/** Open questions of this instance, and presses from any. */
export interface ConfirmationDesk {
  /** Asks `userId`; `answer` resolves with the press (false when nobody answered within `timeoutMs`). */
  ask(userId: string, timeoutMs: number): Promise<{ id: string; answer: Promise<boolean> }>;
  /** A press of yes/no on question `id` by `userId`. */
  press(id: string, userId: string, yes: boolean): Promise<PressAnswer>;
}

const REFUSED: Record<Exclude<ConfirmationPress, 'ok' | 'not_yours'>, string> = {
  answered: 'This question was already answered; your press changed nothing.',
  expired: 'This question expired before your answer, and nothing was done: run the command again.',
  unknown:
    'This question is no longer open (it expired, was answered, or the bot that asked restarted); ' +
    'nothing was done: run the command again.',
};

/**
 * Creates the confirmation desk; `shared` (the store) lets a press reach whichever instance asked. Over 80 lines as a factory: ask and press share the open questions and the store poll; each is short.
 */
export function createConfirmationDesk(opts: {
  shared?: InteractionStore;
  logger: Logger;
  /** How often an open question looks for an answer given to another instance. */
  pollMs?: number;
  /** How long a press on another instance waits for the asker to take it. */
  takeWaitMs?: number;
}): ConfirmationDesk {
  const { shared, logger: log } = opts;
  const pollMs = opts.pollMs ?? 500;
  const takeWaitMs = opts.takeWaitMs ?? Math.max(5_000, 10 * pollMs);
  const pending = new Map<string, { user: string; shared: boolean; done(yes: boolean): void }>();
  const storeFailed = (what: string) => (err: Error) => {
    log.warn({ event: 'slack_confirm_store_failed', err: err.message }, what);
  };
  const answered = (yes: boolean): PressAnswer => ({ text: yes ? 'Confirmed.' : 'Cancelled.', taken: true });
  const notYours = (askedOf: string | undefined): PressAnswer => ({
    text: `Only ${askedOf ? mention(askedOf) : 'the person who ran the command'} can answer this question; your press changed nothing.`,
    taken: false,
  });

  /** Waits for the asking instance (elsewhere) to take an answer recorded here. */
  const takenElsewhere = async (id: string): Promise<boolean | null> => {
    const deadline = Date.now() + takeWaitMs;
    for (;;) {
      const t = await shared!.confirmationTaken(id).catch(() => null);
      if (t !== null || Date.now() > deadline) return t;
      await new Promise((r) => setTimeout(r, Math.min(pollMs, 200)));
    }
  };

  return {
    async ask(user, timeoutMs) {
      const id = randomUUID();
      let isShared = false;
      if (shared) {
        isShared = await shared.openConfirmation(id, user, timeoutMs).then(
          () => true,
          (err: Error) => {
            storeFailed('confirmation not shared with other instances: only a press reaching this one counts')(err);
            return false;
          },
        );
      }
      const answer = new Promise<boolean>((resolve) => {
        let poll: ReturnType<typeof setInterval> | undefined;
        const done = (yes: boolean) => {
          if (!pending.delete(id)) return;
          clearTimeout(timer);
          if (poll) clearInterval(poll);
          resolve(yes);
        };
        pending.set(id, { user, shared: isShared, done });
        // At the end the store decides too: a press that reached another instance just now still counts.
        const timer = setTimeout(() => {
          if (!isShared) return done(false);
          void shared!.settleConfirmation(id, true).then(
            (t) => done(t ?? false),
            () => done(false),
          );
        }, timeoutMs);
        timer.unref();
        if (isShared) {
          let looking = false;
          poll = setInterval(() => {
            if (looking) return;
            looking = true;
            void shared!
              .settleConfirmation(id, false)
              .then(
                (t) => {
                  if (t !== null) done(t);
                },
                () => undefined,
              )
              .finally(() => (looking = false));
          }, pollMs);
          poll.unref();
        }
      });
      return { id, answer };
    },

    async press(id, user, yes) {
      const local = pending.get(id);
      if (local && local.user !== user) return notYours(local.user);
      if (local && !local.shared) {
        // Asked while the store did not answer: this instance alone decides.
        local.done(yes);
        return answered(yes);
      }
      if (!shared) return { text: REFUSED.unknown, taken: false };
      let r: { press: ConfirmationPress; askedOf?: string };
      try {
        r = await shared.answerConfirmation(id, user, yes);
      } catch (err) {
        storeFailed('a confirmation press could not be recorded in the store')(err as Error);
        if (!local)
          return { text: 'The store did not answer, so your press could not be passed on: press again.', taken: false };
        local.done(yes);
        return answered(yes);
      }
      if (r.press === 'not_yours') return notYours(r.askedOf);
      if (r.press !== 'ok') return { text: REFUSED[r.press], taken: false };
      if (local) {
        const t = await shared.settleConfirmation(id, false).catch(() => yes);
        local.done(t ?? yes);
        return answered(t ?? yes);
      }
      const t = await takenElsewhere(id);
      if (t === null)
        return {
          text:
            'Your answer was recorded, but the bot instance that asked has not taken it (it may be restarting): ' +
            'check the result before running the command again.',
          taken: false,
        };
      return answered(t);
    },
  };
}
