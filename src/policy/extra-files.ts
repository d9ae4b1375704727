/**
 * Extra paths for files=deny, beyond what QEMU's command line names: what a
 * running VM will need later (a hot-plugged disk, an external snapshot, a
 * mirror target, a migration file), like Cloud Hypervisor's
 * --landlock-rules. Two sources, both with an access per path:
 *
 *   site config   "files": { "/srv/vm-snapshots": "rw", "/srv/iso": "ro" }
 *   environment   QEMU_SANDBOXED_FILES='rw:/srv/vm-snapshots;ro:/srv/iso'
 *
 * `ro` reads (a directory: everything beneath it); `rw` also writes (a
 * directory: creates, writes and removes anything beneath it). Paths are
 * absolute. Landlock names existing files: a path that does not exist at
 * launch gets no rule (name its directory instead).
 */

export const FILES_ENV = 'QEMU_SANDBOXED_FILES';

export type ExtraAccess = 'ro' | 'rw';

export interface ExtraFile {
  readonly path: string;
  readonly access: ExtraAccess;
  /** Where it was given (for messages and the plan's reasons). */
  readonly origin: string;
}

/** A malformed extra path list: the message names the entry. */
export class ExtraFilesError extends Error {
  override readonly name = 'ExtraFilesError';
}

function checkPath(path: string, where: string): void {
  if (!path.startsWith('/')) {
    throw new ExtraFilesError(`${where}: "${path}" is not an absolute path`);
  }
  if (path.includes('\u0000')) throw new ExtraFilesError(`${where}: a path contains a NUL byte`);
}

/** QEMU_SANDBOXED_FILES: `ACCESS:PATH` entries separated by `;` (empty entries ignored). */
export function parseExtraFilesEnv(text: string, origin: string = FILES_ENV): ExtraFile[] {
  const out: ExtraFile[] = [];
  for (const entry of text.split(';')) {
    if (entry.trim() === '') continue;
    const m = /^(ro|rw):(.*)$/.exec(entry);
    if (!m) {
      throw new ExtraFilesError(
        `${origin}: "${entry}" is not ACCESS:PATH (ACCESS ro or rw, e.g. rw:/srv/vm-snapshots)`,
      );
    }
    checkPath(m[2], origin);
    out.push({ path: m[2], access: m[1] as ExtraAccess, origin });
  }
  return out;
}

/** The site config's "files" value: an object of absolute path -> "ro" | "rw". */
export function parseExtraFilesConfig(data: unknown, origin: string): ExtraFile[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ExtraFilesError(
      `"files" must map absolute paths to "ro" or "rw", e.g. {"/srv/vm-snapshots": "rw"}`,
    );
  }
  const out: ExtraFile[] = [];
  for (const [path, access] of Object.entries(data as Record<string, unknown>)) {
    checkPath(path, '"files"');
    if (access !== 'ro' && access !== 'rw') {
      throw new ExtraFilesError(`"files": "${path}" must be "ro" or "rw"`);
    }
    out.push({ path, access, origin });
  }
  return out;
}
