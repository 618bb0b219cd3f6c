export {
  type BackoffOptions,
  BackoffSchedule,
  backoffBase,
  backoffCeiling,
  backoffDelay,
  RoundTripEstimator,
  sleep,
} from './backoff.js';
export {
  type Change,
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
  type WriteOptions,
  type WriteResult,
} from './client.js';
export {
  HttpError,
  MaxAttemptsError,
  NotFoundError,
  PreconditionFailedError,
  PreconditionRequiredError,
  type ProblemDetails,
} from './errors.js';
export { ByteLru } from './lru.js';
