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
export { documentKey, documentQueryOptions, type UseDocumentOptions } from './options.js';
export { instrumentFetch, type RequestRecord, RequestStats, type StatsSnapshot } from './stats.js';
export {
  AlreadyExistsError,
  ConflictError,
  type DocumentApi,
  DocumentNotFoundError,
  type DocumentSnapshot,
} from './types.js';
