/**
 * Builds the benchmark's C programs. test/helpers/cbuild.ts finds sources
 * relative to its own file, which is wrong once compiled into dist/; the
 * bench runs from dist/, so it finds the repository root by its package.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** The nearest directory above `start` holding package.json (the checkout). */
export function repoRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}`);
    dir = up;
  }
}

/** gcc test/helpers/c/<name>.c -> .cache/c/<name>-<hash>, reused while the source is unchanged. */
export function buildBenchC(name: string, libs: string[] = []): string {
  const root = repoRoot();
  const source = join(root, 'test', 'helpers', 'c', `${name}.c`);
  const flags = ['-O2', '-Wall', '-Werror'];
  const hash = createHash('sha256')
    .update(readFileSync(source))
    .update(JSON.stringify([flags, libs]))
    .digest('hex')
    .slice(0, 16);
  const dir = join(root, '.cache', 'c');
  const out = join(dir, `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync('gcc', [...flags, '-o', tmp, source, ...libs], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `gcc failed for ${source} (run: npm run setup)\n${r.error?.message ?? r.stderr}`,
    );
  }
  renameSync(tmp, out);
  return out;
}
