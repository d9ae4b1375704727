/**
 * The program a POLICY argument compiles to, and the names its disassembly
 * shows: shared by `compile` and `simulate` (commands never import each other).
 */
import { errnoName } from '../arch';
import type { HostAbi } from '../arch/types';
import type { DisassembleOptions } from '../bpf';
import { compilePolicy } from '../compiler';
import type { CompiledFilter } from '../compiler/types';
import { InputError } from './errors';
import type { PolicyArg } from './policy-input';

/** The filter the launcher loads for this policy on this host; an error for `-sandbox off`. */
export function compileFor(p: PolicyArg, host: HostAbi): CompiledFilter {
  if (!p.policy.enable) {
    throw new InputError(
      `policy '${p.text}' is off: the launcher loads no filter, there is nothing to compile`,
    );
  }
  return compilePolicy(p.policy, host.native.name);
}

/** What a disassembly of a filter for `host` names: syscalls, arches, errno values. */
export function disasmOptions(host: HostAbi): DisassembleOptions {
  const archNames = new Map<number, string>();
  // x32 shares x86_64's audit arch: the native name wins.
  for (const a of [...host.secondary].reverse()) archNames.set(a.auditArch, a.name);
  archNames.set(host.native.auditArch, host.native.name);
  return {
    syscallNames: host.native.names,
    archNames,
    errnoName: (value) => errnoName(host.native.name, value),
    endian: host.native.endian,
  };
}
