/**
 * Part 2, filter path length: program length, instructions executed (every
 * syscall number, the denied ones, the argument-checked ones on both sides
 * of each check) and action-cache coverage, ours beside libseccomp's for the
 * same rules and for QEMU's own rules. Deterministic: no timing.
 */
import { HOST_ABI_NAMES, getAbi } from '../../src/arch';
import type { AbiName } from '../../src/arch/types';
import { SECCOMP_RET, isConstAllow, runFilter } from '../../src/bpf';
import {
  cacheCoverage,
  compilePolicy,
  measurePaths,
  pathCases,
  pathStats,
} from '../../src/compiler';
import type { PathSummary } from '../../src/compiler';
import { activeRules } from '../../src/policy';
import { exportWith, qemuSets } from '../../test/helpers/libseccomp';
import { buildBenchC } from './cbuild';
import { FULL_POLICY, FULL_POLICY_STRING } from './common';
import { libseccompSameRules } from './libseccomp-rules';
import { libseccompVersion } from './machine';

export interface PathRow {
  readonly abi: AbiName;
  readonly program: string;
  readonly length: number;
  readonly all: PathSummary;
  readonly denied: PathSummary;
  readonly argChecked: PathSummary;
  readonly cache: { allowedTotal: number; cached: number };
}

export interface PathPart {
  readonly policy: string;
  readonly rows: PathRow[];
  readonly note: string;
}

export function pathPart(): PathPart {
  const rows: PathRow[] = [];
  /** Names libseccomp could not take (newer than it), per ABI, for the note. */
  const libseccompSkipped = new Map<string, Set<string>>();
  let exporter: string | undefined;
  let note =
    'Instructions executed: every number of the ABI table (zero arguments); the denied ones; the ' +
    'argument-checked ones over values on both sides of each check. libseccomp rows are built from ' +
    'exactly our rule set for the policy (our action-unless-condition rules written as libseccomp ' +
    'rules the way QEMU writes its clone rules) and run through the same interpreter on the same cases.';
  try {
    exporter = buildBenchC('libseccomp-export', ['-lseccomp']);
  } catch (e) {
    note += ` libseccomp rows missing: ${(e as Error).message.split('\n')[0]}`;
  }
  for (const abiName of HOST_ABI_NAMES) {
    const abi = getAbi(abiName);
    const ours = compilePolicy(FULL_POLICY, abiName);
    const st = pathStats(ours);
    const cov = cacheCoverage(ours);
    rows.push({
      abi: abiName,
      program: 'ours',
      ...st,
      cache: { allowedTotal: cov.allowedTotal, cached: cov.cached },
    });
    if (!exporter || (abiName !== 'x86_64' && abiName !== 'aarch64')) continue;
    const cases = pathCases(FULL_POLICY, abi);
    const allowed = new Set(
      [...abi.names.keys()].filter((nr) => !activeRules(FULL_POLICY, abi).some((r) => r.nr === nr)),
    );
    for (const optimize of [1, 2] as const) {
      const { prog, skipped } = libseccompSameRules(exporter, abiName, optimize);
      const names = libseccompSkipped.get(abiName) ?? new Set<string>();
      for (const s of skipped) names.add(s);
      libseccompSkipped.set(abiName, names);
      if (!prog) continue;
      const m = measurePaths(prog, abi, cases);
      const cached = [...allowed].filter((nr) => isConstAllow(prog, nr, abi.auditArch)).length;
      // Sanity: both programs must agree on the zero-argument verdicts of allowed calls.
      for (const nr of allowed) {
        const d = {
          nr,
          arch: abi.auditArch,
          instructionPointer: 0n,
          args: [0n, 0n, 0n, 0n, 0n, 0n],
        };
        if (runFilter(prog, d).action >>> 0 !== SECCOMP_RET.ALLOW)
          throw new Error(`libseccomp denies ${nr} on ${abiName}`);
      }
      rows.push({
        abi: abiName,
        program: optimize === 1 ? 'libseccomp (default)' : 'libseccomp (binary tree)',
        length: prog.length,
        ...m,
        cache: { allowedTotal: allowed.size, cached },
      });
    }
    // QEMU's own rule set (fewer rules than ours) for reference.
    const qemu = exportWith(exporter, abiName, qemuSets(FULL_POLICY), 1);
    if (qemu) {
      rows.push({
        abi: abiName,
        program: "libseccomp, QEMU's rules (default)",
        length: qemu.length,
        ...measurePaths(qemu, abi, cases),
        cache: {
          allowedTotal: allowed.size,
          cached: [...allowed].filter((nr) => isConstAllow(qemu, nr, abi.auditArch)).length,
        },
      });
    }
  }
  for (const [abi, names] of libseccompSkipped) {
    if (names.size > 0) {
      note +=
        ` On ${abi} libseccomp ${libseccompVersion()} does not know ${[...names].sort().join(', ')}: ` +
        'its rows have those rules fewer (which can only shorten its program).';
    }
  }
  return { policy: FULL_POLICY_STRING, rows, note };
}
