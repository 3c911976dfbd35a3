/**
 * Sealing and opening envelopes: canonical JSON (keys sorted at every depth), HMAC-SHA256 over it with the shared
 * job secret, and the checks every envelope passes before its kind is looked at: size limit, UTF-8 JSON object,
 * payload version, signature (compared in constant time).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, GearopsError } from '../errors.js';
import { MAX_ENVELOPE_BYTES, PAYLOAD_VERSION } from './envelope.js';

/** Canonical JSON: object keys sorted at every depth, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in payload');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** HMAC-SHA256 of the canonical encoding of `body`. */
function mac(secret: string, body: unknown): Buffer {
  return createHmac('sha256', secret).update(canonicalJson(body)).digest();
}

/** `body` with its signature added, canonically encoded: what goes on the wire. */
export function seal(secret: string, body: object): string {
  return canonicalJson({ ...body, sig: mac(secret, body).toString('hex') });
}

/** Refuses a job secret too short to sign with (a config error naming the variable). */
export function assertSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length < 16) {
    throw new GearopsError(ErrorCode.Config, 'job secret must be at least 16 characters', {
      data: { variable: 'GEAROPS_JOB_SECRET' },
    });
  }
}

/** Parses and checks the signature of any envelope; returns the body without `sig`. */
export function openEnvelope(
  secret: string,
  raw: Buffer | string,
  what: string,
  maxBytes = MAX_ENVELOPE_BYTES,
): Record<string, unknown> {
  assertSecret(secret);
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxBytes)
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: ${size} bytes is over the ${maxBytes}-byte limit`);
  let parsed: unknown;
  try {
    const text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: true }).decode(raw);
    parsed = JSON.parse(text);
  } catch {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: not a gearops envelope (not UTF-8 JSON)`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: not a gearops envelope`);
  }
  const { sig, ...body } = parsed as Record<string, unknown>;
  if (typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig)) {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: unsigned`);
  }
  if (body.v !== PAYLOAD_VERSION) {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: unsupported payload version ${String(body.v)}`);
  }
  let expected: Buffer;
  try {
    expected = mac(secret, body);
  } catch {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: malformed envelope`);
  }
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) {
    throw new GearopsError(
      ErrorCode.BadSignature,
      `${what} refused: bad signature (wrong GEAROPS_JOB_SECRET, or forged)`,
    );
  }
  return body;
}
