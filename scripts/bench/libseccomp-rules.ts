/** libseccomp's program for exactly our rule set, for the comparisons of parts 1 and 2. */
import { getAbi } from '../../src/arch';
import type { Instruction } from '../../src/bpf/types';
import { activeRules } from '../../src/policy';
import { exportWith, rulesForLibseccomp, type LibseccompArch } from '../../test/helpers/libseccomp';
import { FULL_POLICY } from './common';

/**
 * The full policy's rules exported by libseccomp for one ABI (`optimize` 2:
 * its binary tree; undefined when this libseccomp has none), and the
 * syscall names it could not take (newer than it).
 */
export function libseccompSameRules(
  exporter: string,
  abi: LibseccompArch,
  optimize: 1 | 2,
): { readonly prog: Instruction[] | undefined; readonly skipped: readonly string[] } {
  const { lines, skipped: unexpressed } = rulesForLibseccomp(activeRules(FULL_POLICY, getAbi(abi)));
  const skipped: string[] = [...unexpressed];
  const prog = exportWith(exporter, abi, { rules: lines, skipped }, optimize);
  return { prog, skipped };
}
