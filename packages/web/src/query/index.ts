// The reusable TanStack Query integration over @ifmatch/client.
export { createDocumentApi, type DocumentApiOptions } from './api.js';
export {
  documentKey,
  IfMatchProvider,
  primeDocument,
  type SaveVariables,
  type UseDocumentOptions,
  useCreateDocument,
  useDeleteDocument,
  useDocument,
  useDocumentApi,
  useRequestStats,
  useSaveDocument,
} from './hooks.js';
export { instrumentFetch, type RequestRecord, RequestStats, type StatsSnapshot } from './stats.js';
export {
  AlreadyExistsError,
  ConflictError,
  type DocumentApi,
  DocumentNotFoundError,
  type DocumentSnapshot,
} from './types.js';
