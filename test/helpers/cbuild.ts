import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import execa from 'execa';

/** The repository root (this file is test/helpers/cbuild.ts). */
export const REPO_ROOT = resolve(__dirname, '..', '..');

/** Where test programs are built: ignored by git, kept between runs. */
const CACHE_DIR = join(REPO_ROOT, '.cache', 'c');

/**
 * Builds a C program from test/helpers/c/<name>.c with gcc and returns the
 * binary's path. The binary is named after a hash of the source and flags, so a
 * changed source is rebuilt and parallel jest workers never see a half-written
 * file (we build to a temporary name and rename).
 */
export function buildC(name: string, opts: { libs?: string[]; flags?: string[] } = {}): string {
  const source = join(REPO_ROOT, 'test', 'helpers', 'c', `${name}.c`);
  const flags = ['-O2', '-Wall', '-Werror', ...(opts.flags ?? [])];
  const libs = opts.libs ?? [];
  const hash = createHash('sha256')
    .update(readFileSync(source))
    .update(JSON.stringify([flags, libs]))
    .digest('hex')
    .slice(0, 16);
  const out = join(CACHE_DIR, `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = execa.sync('gcc', [...flags, '-o', tmp, source, ...libs], { reject: false });
  if (r.exitCode !== 0) {
    throw new Error(`gcc failed for ${source} (is gcc installed? run: npm run setup)\n${r.stderr}`);
  }
  renameSync(tmp, out);
  return out;
}
