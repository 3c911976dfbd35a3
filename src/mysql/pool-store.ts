/** The PoolStore over mysql2 (placeholder signature; the pool engineer replaces the body). */
import type { Pool } from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { PoolStore } from '../core/ports/store.js';
import { ErrorCode, GearopsError } from '../errors.js';

/** Creates the pool store on an open mysql2 pool (the store's database must be selected). */
export function createPoolStore(_deps: { db: Pool; logger: Logger }): PoolStore {
  const todo = async (): Promise<never> => {
    throw new GearopsError(ErrorCode.Internal, 'pool store not implemented yet');
  };
  return { list: todo, get: todo, add: todo, set: todo, del: todo, history: todo };
}
