/** The application library: pick a READ or WRITE server from the pool gearops keeps. */
export { createPoolReader, type PoolReader, type PoolReaderOptions, type PickedServer } from './pick-server.js';
