// The settings every package tested against a real server shares.
export { default } from '../../vitest.shared.js';
