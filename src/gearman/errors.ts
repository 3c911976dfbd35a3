/** The one place where socket and job-server errors become GearopsErrors. */
import { ErrorCode, GearopsError } from '../errors.js';

/** Translates a connection-level failure talking to `server`. */
export function toGearmanError(err: unknown, server: string): GearopsError {
  if (err instanceof GearopsError) return err;
  const e = err as NodeJS.ErrnoException;
  const why =
    e?.code === 'ECONNREFUSED'
      ? 'connection refused (is gearmand running there?)'
      : e?.code === 'ECONNRESET'
        ? 'connection reset by the job server'
        : e?.code === 'ENOTFOUND'
          ? 'host name not found'
          : (e?.message ?? String(err));
  return new GearopsError(ErrorCode.GearmanUnavailable, `job server ${server}: ${why}`, {
    cause: err,
    data: { server },
  });
}

/** Translates an ERROR packet gearmand sent in answer to a submit of `fn`. */
export function serverErrorPacket(server: string, fn: string, code: string, text: string): GearopsError {
  return new GearopsError(ErrorCode.GearmanUnavailable, `job server ${server} refused ${fn}: ${code} ${text}`, {
    data: { server, code },
  });
}
