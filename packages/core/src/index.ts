// @ifmatch/core: RFC 9110 conditional requests, pure logic (no I/O, no Node APIs).
export * from './canonical-json.js';
export * from './conditional-headers.js';
export * from './entity-tag.js';
export * from './entity-tag-list.js';
export * from './etag-generate.js';
export * from './http-date.js';
export * from './not-modified.js';
export * from './preconditions.js';
export * from './problem.js';
export * from './strict.js';
