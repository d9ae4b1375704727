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
