// The reusable TanStack Query integration over @ifmatch/client.
export { createDocumentApi, type DocumentApiOptions } from './api.js';
export {
  IfMatchProvider,
  primeDocument,
  type SaveVariables,
  useCreateDocument,
  useDeleteDocument,
  useDocument,
  useDocumentApi,
  useLastResponse,
  useRequestStats,
  useSaveDocument,
} from './hooks.js';
export {
  type CollectionUpdates,
  type CollectionUpdatesOptions,
  type LiveState,
  type LiveStatus,
  type UseUpdatesOptions,
  useCollectionUpdates,
  useDocumentUpdates,
  useLiveDocument,
} from './live.js';
export { documentKey, documentQueryOptions, type UseDocumentOptions } from './options.js';
export { instrumentFetch, type RequestRecord, RequestStats, type StatsSnapshot } from './stats.js';
export {
  AlreadyExistsError,
  type CollectionChange,
  ConflictError,
  type DocumentApi,
  DocumentNotFoundError,
  type DocumentSnapshot,
  type LiveOptions,
  type WatchEvent,
} from './types.js';
