export {
  type BackoffOptions,
  BackoffSchedule,
  backoffBase,
  backoffCeiling,
  backoffDelay,
  RoundTripEstimator,
  sleep,
} from './backoff.js';
export type { CollectionChange } from './change-feed.js';
export {
  type Change,
  type ChangesOptions,
  type FetchLike,
  type GetOptions,
  type GetResult,
  IfMatchClient,
  type IfMatchClientOptions,
  type Merge,
  type PutOptions,
  type RequestOptions,
  type UpdateOptions,
  type UpdateResult,
  type WatchOptions,
  type WriteOptions,
  type WriteResult,
} from './client.js';
export {
  CursorExpiredError,
  HttpError,
  MaxAttemptsError,
  MergeConflictError,
  NotFoundError,
  PreconditionFailedError,
  PreconditionRequiredError,
  type ProblemDetails,
} from './errors.js';
export { type JsonPath, jsonEqual, jsonPointer } from './json.js';
export { ByteLru } from './lru.js';
export { changedPaths, type Merge3Result, merge3, threeWayMerge } from './merge.js';
export type { WatchEvent, WatchedVersion } from './watch.js';
