/**
 * The main entry point, `@prismq/client`, as a bundler takes it into a browser app: it must import
 * no Node.js module and install no process signal handler. (The worker runtime, which does both,
 * is `@prismq/client/worker`.) Runs on the built package, as it is published.
 */
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const clientDir = fileURLToPath(new URL('..', import.meta.url));
const { exports } = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as { exports: Record<string, { import: { default: string } }> };

describe('@prismq/client in a browser', () => {
  it('bundles for the browser with no node: import and no process handler', async () => {
    const result = await build({
      entryPoints: [join(clientDir, exports['.']!.import.default)],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    // A Node.js module, `node:crypto` or (as tsup writes it) `crypto`, would not even resolve for the browser.
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((imported) => imported.path));
    expect(imports.filter((path) => isBuiltin(path))).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).toContain('function createPrismqClient(');
    expect(code).not.toMatch(/\bnode:/);
    expect(code).not.toMatch(/\bprocess\.(on|once|addListener|prependListener)\(/);
  });
});
