/**
 * files=deny's preparations carried out, just before the Landlock domain:
 * the plan (src/launch/files.ts) only says what QEMU would create or remove.
 */
import { closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import type { FilePreparation } from '../src/launch/files';

/**
 * Carries out what the plan prepares (src/launch/files.ts FilePreparation):
 * creates the files QEMU would create, empty and with QEMU's mode, so that a
 * rule can name them; removes the stale socket or symlink QEMU would remove
 * before creating its own. Throws with the path on failure.
 */
export function prepareFiles(steps: readonly FilePreparation[]): void {
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
