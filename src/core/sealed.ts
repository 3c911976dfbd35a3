/**
 * Sealing data to whoever holds the job secret: AES-256-GCM with a key derived (HKDF-SHA256) from the job
 * secret and the job id, so each job has a key of its own and a sealed blob opens only for the job it was
 * made for. Gearman has no confidentiality: a rogue that registers someone else's function and relays the
 * job sees every byte that passes, so what must stay private (a command's output, a password) is sealed.
 *
 * Wire form (binary): version byte 1 · 12-byte random IV · 16-byte GCM tag · ciphertext. The job id is both
 * the HKDF info and the GCM additional data, so a blob moved to another job fails its tag check.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ErrorCode, GearopsError } from '../errors.js';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT = Buffer.from('gearops sealed v1', 'utf8');

function keyFor(secret: string, jobId: string): Buffer {
  if (typeof secret !== 'string' || secret.length < 16)
    throw new GearopsError(ErrorCode.Config, 'job secret must be at least 16 characters', {
      data: { variable: 'GEAROPS_JOB_SECRET' },
    });
  return Buffer.from(hkdfSync('sha256', secret, SALT, Buffer.from(jobId, 'utf8'), 32));
}

/** Seals `plaintext` for job `jobId`: only a holder of `secret` can open it, and only as that job's. */
export function sealFor(secret: string, jobId: string, plaintext: Buffer | string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(secret, jobId), iv);
  cipher.setAAD(Buffer.from(jobId, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

/** Opens what sealFor made for `jobId`; throws gearops_bad_signature when it was not, or was altered. */
export function openFrom(secret: string, jobId: string, sealed: Buffer): string {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION)
    throw new GearopsError(ErrorCode.BadSignature, 'sealed data refused: not sealed by gearops');
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyFor(secret, jobId), iv);
  decipher.setAAD(Buffer.from(jobId, 'utf8'));
  decipher.setAuthTag(tag);
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new GearopsError(
      ErrorCode.BadSignature,
      'sealed data refused: it does not open with this job secret for this job (wrong secret, another job, or altered)',
    );
  }
  return plain.toString('utf8');
}

/** Seals `plaintext` for job `jobId` as text (for a JSON field, e.g. a cluster's passwords in an install job). */
export function seal(secret: string, jobId: string, plaintext: string): string {
  return `s1.${sealFor(secret, jobId, plaintext).toString('base64url')}`;
}

/** Opens what `seal` made for the same secret and job id; throws gearops_bad_signature for anything else. */
export function unseal(secret: string, jobId: string, sealed: string): string {
  const refuse = () =>
    new GearopsError(ErrorCode.BadSignature, 'sealed data does not open with this job secret for this job');
  if (typeof sealed !== 'string' || !/^s1\.[\w-]+$/.test(sealed)) throw refuse();
  try {
    return openFrom(secret, jobId, Buffer.from(sealed.slice(3), 'base64url'));
  } catch {
    throw refuse();
  }
}
