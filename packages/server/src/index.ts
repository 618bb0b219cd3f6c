// @ifmatch/server: the document server as a library (the CLI wraps this).
export { type AppOptions, buildApp, DEFAULT_BODY_LIMIT, TIMEOUTS } from './http/app.js';
export { LIVE_DEFAULTS, type LiveOptions, type LiveStatus } from './live/waiters.js';
export { describeDb, openStore, StoreOpenError, type StoreOptions } from './store/open.js';
export { openSqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export type * from './store/types.js';
export { ChangesExpiredError, StoreUnavailableError } from './store/types.js';
