/**
 * Which QEMU the launcher would run. The rules belong to the launcher
 * (src/launch/binary.ts); this adapter only calls them, so `doctor` can never
 * disagree with what `qemu-sandboxed` does.
 */
import { chooseBinary, resolveBinary } from '../launch/binary';
import type { SiteConfig } from '../policy';

export interface FoundBinary {
  readonly path: string;
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
  const found = resolveBinary(choice, env.PATH);
  return { path: found.path, source: SOURCE_WORDS[found.source] ?? found.source };
}
