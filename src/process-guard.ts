/**
 * The last line of defence of a long-running process (the bot): a promise rejection nobody handled is a bug,
 * but one lost Slack call must not take every later command down with it. It is logged with its stack and the
 * process keeps serving. (Node's default for an unhandled rejection is to exit.)
 */
import type { Logger } from './log.js';

/** Installs the handler on `proc`; returns a function that removes it. */
export function guardUnhandledRejections(logger: Logger, proc: NodeJS.Process = process): () => void {
  const onRejection = (reason: unknown) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    logger.error(
      {
        event: 'unhandled_rejection',
        err: { message: err.message, stack: err.stack, code: (err as { code?: string }).code },
      },
      'a promise failed with nobody to handle it (a bug); the bot keeps serving',
    );
  };
  proc.on('unhandledRejection', onRejection);
  return () => proc.removeListener('unhandledRejection', onRejection);
}
