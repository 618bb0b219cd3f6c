// @ifmatch/core: RFC 9110 conditional requests, pure logic (no I/O, no Node APIs).
export * from './conditional-headers.js';
export * from './entity-tag.js';
export * from './entity-tag-list.js';
export * from './http-date.js';
export * from './preconditions.js';
