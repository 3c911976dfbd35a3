/**
 * Secrets sealed for one job: AES-256-GCM under a key derived (HKDF-SHA256)
 * from the shared job secret and the job's id. Only a holder of the job
 * secret opens it, and a sealed value copied into another job does not open
 * there. Small and generic on purpose: any value that must cross gearmand
 * unreadable (cluster passwords, job results) uses it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ErrorCode, GearopsError } from '../errors.js';

const VERSION = 's1';
const INFO = 'gearops sealed v1';

function keyFor(secret: string, jobId: string): Buffer {
  if (!secret) throw new GearopsError(ErrorCode.Config, 'sealing needs the job secret (GEAROPS_JOB_SECRET)');
  return Buffer.from(hkdfSync('sha256', secret, `job:${jobId}`, INFO, 32));
}

/** Seals `plaintext` for job `jobId`: `s1.<iv>.<ciphertext>.<tag>`, base64url parts. */
export function seal(secret: string, jobId: string, plaintext: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyFor(secret, jobId), iv);
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return [VERSION, iv, body, c.getAuthTag()]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

/** Opens what `seal` made for the same secret and job id; throws gearops_bad_signature for anything else. */
export function unseal(secret: string, jobId: string, sealed: string): string {
  const refuse = () =>
    new GearopsError(ErrorCode.BadSignature, 'sealed data does not open with this job secret for this job');
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  if (parts.length !== 4 || parts[0] !== VERSION) throw refuse();
  const [iv, body, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
  if (iv?.length !== 12 || tag?.length !== 16 || !body) throw refuse();
  try {
    const d = createDecipheriv('aes-256-gcm', keyFor(secret, jobId), iv);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]).toString('utf8');
  } catch {
    throw refuse();
  }
}
