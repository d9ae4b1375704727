/**
 * libseccomp's BPF for QEMU's -sandbox rules, from test/helpers/c/libseccomp-export.c
 * (built with gcc against Debian's libseccomp-dev). The differential test
 * compares our programs with these; the benchmark measures both.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import { decodeProgram } from '../../src/bpf';
import type { Instruction } from '../../src/bpf/types';
import { actionValue } from '../../src/compiler/actions';
import type { ActiveRule, SandboxPolicy } from '../../src/policy/types';
import { buildC } from './cbuild';

/** The ABIs the exporter builds for: the pair the differential tests compare us with libseccomp on. */
export type LibseccompArch = 'x86_64' | 'aarch64';
/** QEMU's optional sets (its default set is always on). */
export type LibseccompSet = 'obsolete' | 'privileged' | 'spawn' | 'resourcecontrol';
/** 1: libseccomp's default (what QEMU loads); 2: SCMP_FLTATR_CTL_OPTIMIZE binary tree. */
export type LibseccompOptimize = 1 | 2;

/** Fails with the fix when the development package is missing. */
export function requireLibseccompDev(): void {
  if (!existsSync('/usr/include/seccomp.h')) {
    throw new Error(
      'libseccomp-dev is not installed (no /usr/include/seccomp.h): run npm run setup',
    );
  }
}

/** Builds (once, cached) the exporter and returns its path. */
export function libseccompExporter(): string {
  requireLibseccompDev();
  return buildC('libseccomp-export', { libs: ['-lseccomp'] });
}

/** QEMU's sets for one of our policies (what QEMU's own -sandbox would enable). */
export function qemuSets(policy: SandboxPolicy): LibseccompSet[] {
  const sets: LibseccompSet[] = [];
  if (policy.obsolete === 'deny') sets.push('obsolete');
  if (policy.elevatePrivileges !== 'allow') sets.push('privileged');
  if (policy.spawn === 'deny') sets.push('spawn');
  if (policy.resourceControl === 'deny') sets.push('resourcecontrol');
  return sets;
}

/**
 * Runs an exporter binary and returns libseccomp's program, or undefined when
 * `optimize` is 2 and the installed libseccomp has no binary tree (exit 3).
 * Takes the binary's path so the benchmark can pass its own build. With
 * `{rules}`, names this libseccomp does not know are skipped and listed in
 * `skipped` (pass an array to collect them).
 */
export function exportWith(
  exporter: string,
  arch: LibseccompArch,
  sets:
    readonly LibseccompSet[] | { readonly rules: readonly string[]; readonly skipped?: string[] },
  optimize: LibseccompOptimize = 1,
): Instruction[] | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'libseccomp-export-'));
  try {
    const out = join(dir, 'filter.bpf');
    const args = [arch, '', String(optimize), out];
    if ('rules' in sets) {
      const file = join(dir, 'rules.txt');
      writeFileSync(file, sets.rules.map((l) => `${l}\n`).join(''));
      args[1] = 'rules';
      args.push(file);
    } else {
      args[1] = sets.length ? sets.join(',') : 'none';
    }
    const r = execa.sync(exporter, args, { reject: false });
    if (r.exitCode === 3 && optimize === 2) return undefined;
    if (r.exitCode !== 0) throw new Error(`libseccomp-export failed (${r.exitCode}): ${r.stderr}`);
    if ('rules' in sets && sets.skipped) {
      for (const m of r.stdout.matchAll(/^skipped (\S+)$/gm)) sets.skipped.push(m[1]);
    }
    // Both exported ABIs are little-endian, as is this host.
    return decodeProgram(new Uint8Array(readFileSync(out)), 'le');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** libseccomp's program for QEMU's rules (building the exporter when needed). */
export function libseccompProgram(
  arch: LibseccompArch,
  sets: readonly LibseccompSet[],
  optimize: LibseccompOptimize = 1,
): Instruction[] | undefined {
  return exportWith(libseccompExporter(), arch, sets, optimize);
}

/**
 * Our active rules as libseccomp rules (the exporter's RULESFILE lines), so the
 * benchmark can compare both compilers on the very same rule set. libseccomp
 * applies an action when every comparison of a rule holds; our "action unless
 * condition" becomes one libseccomp rule per way the condition can fail, as
 * QEMU writes its clone rules. `in` with several values has no such form in one
 * rule and is reported in `skipped` (the full policy has none).
 */
export function rulesForLibseccomp(rules: readonly ActiveRule[]): {
  lines: string[];
  skipped: string[];
} {
  const lines: string[] = [];
  const skipped: string[] = [];
  const hex = (v: bigint | number): string => v.toString(16);
  for (const r of rules) {
    const action = hex(actionValue(r.action) >>> 0);
    const c = r.unless;
    if (!c) {
      lines.push(`${r.syscall} ${action}`);
    } else if (c.op === 'eq' || (c.op === 'in' && (c.values ?? []).length === 1)) {
      lines.push(`${r.syscall} ${action} ${c.arg} ne ${hex((c.values ?? [0n])[0])} 0`);
    } else if (c.op === 'notin') {
      for (const v of c.values ?? []) lines.push(`${r.syscall} ${action} ${c.arg} eq ${hex(v)} 0`);
    } else if (c.op === 'range') {
      if ((c.min ?? 0n) > 0n)
        lines.push(`${r.syscall} ${action} ${c.arg} lt ${hex(c.min ?? 0n)} 0`);
      lines.push(`${r.syscall} ${action} ${c.arg} gt ${hex(c.max ?? 0n)} 0`);
    } else if (c.op === 'masked') {
      const keep = ~(c.ignore ?? 0n);
      for (let b = 0n; b < 64n; b++) {
        const bit = 1n << b;
        if ((c.allOf ?? 0n) & keep & bit)
          lines.push(`${r.syscall} ${action} ${c.arg} masked_eq ${hex(bit)} 0`);
        if ((c.noneOf ?? 0n) & keep & bit) {
          lines.push(`${r.syscall} ${action} ${c.arg} masked_eq ${hex(bit)} ${hex(bit)}`);
        }
      }
    } else {
      skipped.push(`${r.syscall}: ${c.op} with ${(c.values ?? []).length} values`);
    }
  }
  return { lines, skipped };
}
