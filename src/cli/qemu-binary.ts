/**
 * Which QEMU the launcher would run. The rules belong to the launcher
 * (src/launch/binary.ts); this adapter only calls them, so `doctor` can never
 * disagree with what `qemu-sandboxed` does.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { chooseBinary, resolveBinary } from '../launch/binary';
import type { SiteConfig } from '../policy';
import { packageRoot } from '../policy/rules';

export interface FoundBinary {
  readonly path: string;
  /** Host-wide mode: the qemu-system-* path the launcher stands in for. */
  readonly divertedFrom?: string;
  /** The rule that chose it, in words. */
  readonly source: string;
}

const SOURCE_WORDS: Readonly<Record<string, string>> = {
  env: 'from QEMU_SANDBOXED_BINARY',
  config: 'from the config file',
  'invoked-name': 'from the name the launcher was invoked as',
  'host-arch': 'qemu-system-<host arch>',
};

/**
 * `invokedAs` is the launcher's own name: doctor is not invoked through a
 * qemu-system-<target>-sandboxed symlink, so the invoked-name rule only applies
 * when a caller names one.
 */
export function resolveQemuBinary(
  env: NodeJS.ProcessEnv,
  config: SiteConfig,
  invokedAs = 'qemu-sandboxed',
): FoundBinary {
  const choice = chooseBinary({ env, configBinary: config.binary, invokedAs });
  const found = resolveBinary(choice, env.PATH, launcherPath());
  return {
    path: found.path,
    source: SOURCE_WORDS[found.source] ?? found.source,
    ...(found.divertedFrom !== undefined ? { divertedFrom: found.divertedFrom } : {}),
  };
}

/**
 * The trampoline of this checkout or package, as the launcher knows itself:
 * with it, a qemu-system-* that is the launcher (host-wide mode) resolves to
 * the QEMU diverted behind it, as it does for the launcher.
 */
function launcherPath(): string | undefined {
  try {
    return realpathSync(join(packageRoot(), 'launcher', 'qemu-sandboxed'));
  } catch {
    return undefined;
  }
}
