/**
 * Structured logging: one JSON line per event (pino), secrets redacted by key.
 */
import { pino, type Logger as PinoLogger } from 'pino';

/** The logger every module receives through its factory. */
export type Logger = PinoLogger;

/** Keys whose values never reach a log line. */
export const REDACT_PATHS = [
  'token',
  'secret',
  'password',
  'authorization',
  '*.token',
  '*.secret',
  '*.password',
  '*.authorization',
  '*.jobSecret',
  '*.botToken',
  '*.appToken',
  '*.signingSecret',
  'config.jobSecret',
  'config.slack.botToken',
  'config.slack.appToken',
  'config.slack.signingSecret',
  'config.mysqlUrl',
  'headers.authorization',
  'req.headers.authorization',
];

/** Creates the process logger. `GEAROPS_LOG_LEVEL` picks the level (default info; tests use silent). */
export function createLogger(
  options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  const level = options.level ?? process.env.GEAROPS_LOG_LEVEL ?? 'info';
  const opts = { level, name: options.name ?? 'gearops', redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that writes nothing: for unit tests. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
