/**
 * The compile cache the launcher reads instead of compiling: every policy
 * combination for every host ABI, compiled by `npm run build`
 * (scripts/precompile.ts) into dist/precompiled/, shipped read-only with the
 * code (no writable cache directory to trust).
 *
 * Why: loading the compiler, the assembler, the syscall tables and validating
 * filters/ costs ~20 ms of each QEMU start; this file loads none of them.
 *
 * An entry is used only if its inputs are the ones a live compile would read
 * now, by content: filters/ (operators may edit them) and every compiled
 * module the build's compile loaded (the compiler, src/policy, the syscall
 * tables), each with the sha256 the build recorded (./cache-inputs.ts says
 * how that is checked cheaply at every start). Otherwise (or for anything
 * missing, unreadable or malformed) the caller compiles live: never worse than
 * no cache. A unit test compares every entry with a live compile.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProgram } from '../bpf/codec';
import type { AbiName } from '../arch/types';
import type { SandboxPolicy } from '../policy/types';
import { checkInputs, type InputCheck, type Inputs } from './cache-inputs';
import { sha256Hex } from './sha256';
import type { CompiledFilter } from './types';

/** Bump when the layout below changes. */
export const PRECOMPILED_FORMAT = 2;

/** The syscall numbers the hot path needs (src/native, the exec gate). */
export const HOST_SYSCALLS = [
  'seccomp',
  'rt_sigaction',
  'rt_sigprocmask',
  'execve',
  'execveat',
  'landlock_create_ruleset',
  'landlock_restrict_self',
] as const;

/** What the launcher needs to know about the host ABI, without src/arch. */
export interface HostFacts {
  readonly name: AbiName;
  readonly auditArch: number;
  readonly endian: 'le' | 'be';
  /** Only HOST_SYSCALLS. */
  readonly syscalls: ReadonlyMap<string, number>;
}

/** dist/precompiled/manifest.json. */
export interface Manifest {
  readonly format: number;
  /** `${process.arch}-${LE|BE}` -> host ABI, as src/arch's detectHostAbi answers. */
  readonly hosts: Readonly<Record<string, AbiName>>;
  /**
   * Every file the build's compile read, from the package root: the modules
   * it loaded and filters/<group>.json, each with its sha256 (and stat).
   */
  readonly inputs: Inputs;
  readonly abis: Readonly<
    Record<
      string,
      {
        readonly auditArch: number;
        readonly endian: 'le' | 'be';
        readonly syscalls: Readonly<Record<string, number>>;
      }
    >
  >;
}

/** dist/precompiled/<abi>/<policyKey>.json. */
export interface Entry {
  /** The program, base64 of struct sock_filter[] in the ABI's byte order. */
  readonly bytes: string;
  readonly needsExecGate: boolean;
}

/** Everything compilePolicy reads from a policy, in a fixed order (not preflight). */
export function policyKey(p: SandboxPolicy): string {
  return [
    `obsolete=${p.obsolete}`,
    `elevateprivileges=${p.elevatePrivileges}`,
    `spawn=${p.spawn}`,
    `resourcecontrol=${p.resourceControl}`,
    `network=${p.network}`,
    `action=${p.action}`,
  ].join(',');
}

/** Where the cache is, relative to the package root. */
export const PRECOMPILED_DIR = join('dist', 'precompiled');

/** The package root: the directory with package.json above this file (as src/policy finds filters/). */
function findRoot(start: string): string | null {
  let dir = start;
  for (;;) {
    try {
      statSync(join(dir, 'package.json'));
      return dir;
    } catch {
      const up = join(dir, '..');
      if (up === dir) return null;
      dir = up;
    }
  }
}

function hostKey(): string {
  // node:os costs ~1 ms to load for os.endianness().
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return `${process.arch}-${le ? 'LE' : 'BE'}`;
}

export interface Precompiled {
  readonly host: HostFacts;
  /** null: no entry for this policy (then compile live). */
  readonly filter: CompiledFilter | null;
  /** How the inputs were found unchanged (how many by stat, how many hashed). */
  readonly inputs: InputCheck;
}

/**
 * The host facts and the precompiled filter for `policy`, or null when the
 * cache does not apply (see the top of this file). Never throws. `root`
 * holds filters/ and the code; `dir` the cache (parameters for the tests).
 */
export function readPrecompiled(
  policy: SandboxPolicy,
  root: string | null = findRoot(__dirname),
  dir: string | null = root === null ? null : join(root, PRECOMPILED_DIR),
): Precompiled | null {
  if (!policy.enable || root === null || dir === null) return null;
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    if (m.format !== PRECOMPILED_FORMAT) return null;
    const name = m.hosts[hostKey()];
    const facts = name === undefined ? undefined : m.abis[name];
    if (facts === undefined) return null;
    const inputs = checkInputs(root, m.inputs);
    if (!inputs.unchanged) return null;
    const host: HostFacts = Object.freeze({
      name,
      auditArch: facts.auditArch,
      endian: facts.endian,
      syscalls: new Map(Object.entries(facts.syscalls)),
    });
    let entry: Entry;
    try {
      entry = JSON.parse(
        readFileSync(join(dir, name, `${policyKey(policy)}.json`), 'utf8'),
      ) as Entry;
    } catch {
      return { host, filter: null, inputs };
    }
    const bytes = new Uint8Array(Buffer.from(entry.bytes, 'base64'));
    if (bytes.length === 0) return { host, filter: null, inputs };
    const filter: CompiledFilter = Object.freeze({
      abi: name,
      policy,
      program: Object.freeze(decodeProgram(bytes, facts.endian)),
      bytes,
      hash: sha256Hex(bytes),
      needsExecGate: entry.needsExecGate === true,
    });
    return { host, filter, inputs };
  } catch {
    return null;
  }
}
