/** The rules of the queue that do not depend on an engine: pure functions both engines call. */
export * from './backoff.js';
export * from './declare.js';
export * from './defaults.js';
export * from './limits.js';
export * from './order.js';
export * from './pages.js';
export * from './search.js';
export * from './progress.js';
export * from './stats.js';
export * from './time.js';
export * from './tokens.js';
export * from './transitions.js';
