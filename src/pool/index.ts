/** The application library: pick a READ or WRITE server from the pool gearops keeps. */
export { createPoolReader, type PoolReader, type PoolReaderOptions, type PickedServer } from './pick-server.js';
export type { PoolSource, MysqlPool } from '../mysql/pool-reader-source.js';
export type { PoolNode, PoolRole } from '../core/ports/store.js';
