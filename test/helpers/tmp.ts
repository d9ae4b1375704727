/**
 * Temporary directories that a test file removes when it is done.
 *
 * Sessions reuse machines, so a directory left in /tmp by each run adds up.
 * The cleanup hook is registered once, when a test file first imports this
 * module (imports run while jest collects the file, where hooks are allowed),
 * so tempDir() works anywhere: at top level, in a describe body, in a hook, or
 * inside a test, where jest refuses to register new hooks. afterAll runs even
 * when tests fail. Each test file has its own module registry, hence its own
 * list and its own hook.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created: string[] = [];

// Guarded: tsconfig also compiles test/ into dist/, where no jest globals exist.
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
}

/** mkdtemp under the system temp directory (prefix like 'qs-cli-'), removed after the file's tests. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}
