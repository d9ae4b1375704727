/**
 * The real LaunchHost: this machine's /proc, files, QEMU binary and kernel,
 * as the launcher and `qemu-sandbox doctor` both see them.
 */
import { openSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { scriptInterpreterOf } from './binary';
import { cacheDir, qemuSupportsSandbox } from './delegation';
import { EXIT, LaunchError } from './errors';
import { hostFileFacts } from './file-facts';
import type { LaunchHost } from './plan';

export interface RealHostOptions {
  readonly env: Readonly<Record<string, string>>;
  /** Tests: /proc and /sys are read under this directory instead. */
  readonly procRoot?: string;
}

/** The trampoline of this installation, from dist/src/launch (undefined when not built so). */
function trampolinePath(): string | undefined {
  try {
    return realpathSync(join(__dirname, '..', '..', '..', 'launcher', 'qemu-sandboxed'));
  } catch {
    return undefined;
  }
}

export function realLaunchHost(opts: RealHostOptions): LaunchHost {
  const uid = process.getuid?.() ?? -1;
  return {
    env: opts.env,
    cwd: process.cwd(),
    pid: process.pid,
    uid,
    self: trampolinePath(),
    readProc: (p) =>
      readFileSync(opts.procRoot === undefined ? p : join(opts.procRoot, p), 'latin1'),
    openBinary(path) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        // Execute-only: it cannot be a script either (an interpreter must read it).
        if (err.code === 'EACCES') return { fd: undefined };
        throw new LaunchError(
          `cannot open ${path}: ${err.code ?? err.message}`,
          err.code === 'ENOENT' ? EXIT.notFound : EXIT.cannotExecute,
        );
      }
      return { fd, interpreter: scriptInterpreterOf(fd) };
    },
    qemuSupportsSandbox: (binary) => qemuSupportsSandbox(binary, opts.env, cacheDir(opts.env, uid)),
    landlockSupport(numbers) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- FFI only when asked
      const native = require('../native/landlock') as typeof import('../native/landlock');
      return native.landlockSupport(numbers);
    },
    fileFacts: hostFileFacts,
  };
}
