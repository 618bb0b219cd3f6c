// @ifmatch/core: RFC 9110 conditional requests, pure logic (no I/O, no Node APIs).
// Named exports where a module also holds internals (isEtagc, scanEntityTag,
// toWholeSeconds are shared between core's own modules, not public).
export * from './canonical-json.js';
export * from './conditional-headers.js';
export {
  type EntityTag,
  formatEntityTag,
  isOpaque,
  parseEntityTag,
  strongMatch,
  weakMatch,
} from './entity-tag.js';
export * from './entity-tag-list.js';
export * from './etag-generate.js';
export { formatHttpDate, parseHttpDate } from './http-date.js';
export * from './in-process-lock.js';
export * from './not-modified.js';
export * from './preconditions.js';
export * from './problem.js';
export * from './strict.js';
export * from './write-condition.js';
