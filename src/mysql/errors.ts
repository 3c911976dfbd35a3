/** The one place where mysql2 errors become GearopsErrors (never with the password). */
import { ErrorCode, GearopsError } from '../errors.js';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
]);

/**
 * Translates a mysql2 error met while talking to `where` (host:port). `subject` names what was talked to in the
 * message: the store (the "common" database) by default, or a replication node ("the server") for the probe.
 */
export function toStoreError(
  err: unknown,
  where: string,
  subject: 'the store' | 'the server' = 'the store',
): GearopsError {
  if (err instanceof GearopsError) return err;
  const e = err as { code?: string; errno?: number; fatal?: boolean; message?: string; sqlMessage?: string };
  const text = e?.sqlMessage ?? e?.message ?? String(err);
  if ((e?.code && CONNECTION_CODES.has(e.code)) || e?.fatal) {
    return new GearopsError(
      ErrorCode.StoreUnavailable,
      `${subject} at ${where} is unavailable: ${e?.code ?? ''} ${text}`.trim(),
      { cause: err, data: { where } },
    );
  }
  if (e?.code === 'ER_DUP_ENTRY') return new GearopsError(ErrorCode.Conflict, text, { cause: err });
  return new GearopsError(
    ErrorCode.Store,
    subject === 'the store'
      ? `store error (${e?.code ?? 'unknown'}): ${text}`
      : `MySQL error at ${where} (${e?.code ?? 'unknown'}): ${text}`,
    { cause: err, data: { where } },
  );
}
