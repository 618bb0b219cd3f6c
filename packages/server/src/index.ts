// @ifmatch/server: the document server as a library (the CLI wraps this).
export { type AppOptions, buildApp, DEFAULT_BODY_LIMIT, TIMEOUTS } from './http/app.js';
export { describeDb, openStore, StoreOpenError } from './store/open.js';
export { openSqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export type * from './store/types.js';
export { StoreUnavailableError } from './store/types.js';
