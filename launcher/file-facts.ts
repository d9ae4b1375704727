/**
 * FileFacts (files-common.ts) read from the real filesystem: what the
 * launcher and `qemu-sandbox doctor` give the files=deny analysis.
 */
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  realpathSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import type { FileFacts, PathKind } from './files-common';

export function hostFileFacts(): FileFacts {
  return {
    kind(path: string): PathKind | undefined {
      try {
        const st = statSync(path);
        if (st.isDirectory()) return 'dir';
        if (st.isFile()) return 'file';
        if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
        if (st.isSocket()) return 'socket';
        return 'other';
      } catch {
        return undefined;
      }
    },
    isSymlink(path: string): boolean {
      try {
        return lstatSync(path).isSymbolicLink();
      } catch {
        return false;
      }
    },
    realpath(path: string): string | undefined {
      try {
        return realpathSync(path);
      } catch {
        return undefined;
      }
    },
    readHead(path: string, bytes: number): Buffer {
      // O_NONBLOCK: a FIFO named as an image must not hang the launcher.
      const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      try {
        const buf = Buffer.alloc(bytes);
        let got = 0;
        while (got < bytes) {
          const n = readSync(fd, buf, got, bytes - got, got);
          if (n === 0) break;
          got += n;
        }
        return buf.subarray(0, got);
      } finally {
        closeSync(fd);
      }
    },
    list(path: string): string[] {
      try {
        return readdirSync(path);
      } catch {
        return [];
      }
    },
  };
}

/**
 * Carries out what the plan prepares (launcher/files.ts FilePreparation):
 * creates the files QEMU would create, empty and with QEMU's mode, so that a
 * rule can name them; removes the stale socket or symlink QEMU would remove
 * before creating its own. Throws with the path on failure.
 */
export function prepareFiles(
  steps: readonly (
    | { readonly kind: 'create'; readonly path: string; readonly mode: number }
    | { readonly kind: 'remove-stale'; readonly path: string; readonly type: 'socket' | 'symlink' }
  )[],
): void {
  for (const step of steps) {
    try {
      if (step.kind === 'create') {
        const fd = openSync(
          step.path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          step.mode,
        );
        closeSync(fd);
      } else {
        const st = lstatSync(step.path);
        const ok = step.type === 'socket' ? st.isSocket() : st.isSymbolicLink();
        if (ok) unlinkSync(step.path);
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Someone else made or removed it in between: the rule names what is there now.
      if (code === 'EEXIST' || code === 'ENOENT') continue;
      throw new Error(`${step.path}: ${code ?? (e as Error).message}`);
    }
  }
}
