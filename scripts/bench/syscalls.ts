/**
 * Part 1, allowed-syscall overhead: a C microbenchmark times cheap calls
 * under no filter, ours (through the launcher when it can), a one-instruction
 * RET ALLOW control, and libseccomp's programs for the same rules (QEMU's
 * default optimisation and the binary tree).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_K, BPF_RET, SECCOMP_RET, encodeProgram, stmt } from '../../src/bpf';
import { compilePolicy } from '../../src/compiler';
import { buildBenchC } from './cbuild';
import {
  FULL_POLICY,
  FULL_POLICY_STRING,
  firstError,
  launcherPath,
  median,
  round2,
  round4,
  shuffled,
  type BenchOptions,
} from './common';
import { libseccompSameRules } from './libseccomp-rules';

interface SyscallVariant {
  readonly name: string;
  readonly label: string;
  readonly cmd: string;
  readonly args: string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly expectSeccomp: number;
}

export interface SyscallPart {
  readonly available: boolean;
  readonly note: string;
  readonly iterations: number;
  readonly rounds: number;
  readonly ops: string[];
  readonly variants: { name: string; label: string }[];
  /**
   * ns per call, the fastest over rounds: op -> variant -> ns. Noise on a
   * shared machine only ever adds time, so the minimum is the estimate of the
   * undisturbed cost (chosen before looking at any target; the medians are
   * kept beside it).
   */
  readonly nsPerCall: Record<string, Record<string, number>>;
  /** nsPerCall[variant] / nsPerCall[none]. */
  readonly ratioToNone: Record<string, Record<string, number>>;
  /** Median over rounds of ns per call, and of (variant / no filter) within a round. */
  readonly medianNsPerCall: Record<string, Record<string, number>>;
  readonly medianRatioToNone: Record<string, Record<string, number>>;
}

/** Runs part 1; `dir` is scratch space for the filter files the benchmark program loads. */
export function syscallPart(opts: BenchOptions, dir: string): SyscallPart {
  const log = opts.log ?? (() => undefined);
  const iterations = opts.quick ? 20000 : 500000;
  const rounds = opts.quick ? 1 : 11;
  const empty = {
    iterations,
    rounds,
    ops: [],
    variants: [],
    nsPerCall: {},
    ratioToNone: {},
    medianNsPerCall: {},
    medianRatioToNone: {},
  };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { ...empty, available: false, note: 'needs an x86_64 Linux host' };
  }
  const bin = buildBenchC('bench-syscalls');
  const exporter = buildBenchC('libseccomp-export', ['-lseccomp']);
  const ours = compilePolicy(FULL_POLICY, 'x86_64');
  const oursFile = join(dir, 'ours.bpf');
  writeFileSync(oursFile, ours.bytes);
  const variants: SyscallVariant[] = [
    {
      name: 'none',
      label: 'no filter',
      cmd: bin,
      args: ['-', '0', String(iterations)],
      expectSeccomp: 0,
    },
  ];
  let note = '';
  const launcher = launcherPath();
  let viaLauncher = false;
  if (launcher) {
    // The launcher runs the benchmark program as its "QEMU" (site config
    // "binary"), strips -sandbox, loads our filter and execs it in place.
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ binary: bin }));
    const env = { ...process.env, QEMU_SANDBOXED_CONFIG: config };
    const args = ['-sandbox', FULL_POLICY_STRING, '-', '0', '1000'];
    const probe = spawnSync(launcher, args, { encoding: 'utf8', env });
    if (probe.status === 0 && /^seccomp 2$/m.test(probe.stdout)) {
      variants.push({
        name: 'ours',
        label: 'ours (full policy, via the launcher)',
        cmd: launcher,
        args: ['-sandbox', FULL_POLICY_STRING, '-', '0', String(iterations)],
        env,
        expectSeccomp: 2,
      });
      viaLauncher = true;
    } else {
      note = `the launcher did not run the benchmark (exit ${probe.status}: ${firstError(probe.stderr || probe.stdout)}); `;
    }
  } else {
    note = 'launcher/qemu-sandboxed does not exist yet; ';
  }
  if (!viaLauncher) {
    note +=
      'our filter is loaded by the benchmark program itself (same bytes, seccomp() with NEW_LISTENER as the launcher does)';
    variants.push({
      name: 'ours',
      label: 'ours (full policy, loaded directly)',
      cmd: bin,
      args: [oursFile, ours.needsExecGate ? '8' : '0', String(iterations)],
      expectSeccomp: 2,
    });
  } else {
    note = 'our filter is loaded through launcher/qemu-sandboxed';
  }
  // Control: the cheapest possible filter. Its cost is the kernel's seccomp
  // entry path alone; a filter whose calls all hit the action cache can do no
  // better, which tells a BPF cost apart from the cost of having a filter.
  const floorFile = join(dir, 'allow-only.bpf');
  writeFileSync(floorFile, encodeProgram([stmt(BPF_RET | BPF_K, SECCOMP_RET.ALLOW)], 'le'));
  variants.push({
    name: 'allow-only',
    label: 'control: 1-instruction RET ALLOW filter',
    cmd: bin,
    args: [floorFile, '0', String(iterations)],
    expectSeccomp: 2,
  });
  for (const [name, label, optimize] of [
    ['libseccomp', 'libseccomp, same rules, default optimisation (as QEMU)', 1],
    ['libseccomp-tree', 'libseccomp, same rules, binary tree (OPTIMIZE 2)', 2],
  ] as const) {
    const { prog } = libseccompSameRules(exporter, 'x86_64', optimize);
    if (!prog) {
      note += `; ${name}: this libseccomp has no binary tree`;
      continue;
    }
    const file = join(dir, `${name}.bpf`);
    writeFileSync(file, encodeProgram(prog, 'le'));
    variants.push({
      name,
      label,
      cmd: bin,
      args: [file, '0', String(iterations)],
      expectSeccomp: 2,
    });
  }

  const samples: Record<string, Record<string, number[]>> = {};
  const ratios: Record<string, Record<string, number[]>> = {};
  for (let round = 0; round < rounds; round++) {
    const thisRound: Record<string, Record<string, number>> = {};
    for (const v of shuffled(variants, round + 1)) {
      const r = spawnSync(v.cmd, v.args, { encoding: 'utf8', env: v.env ?? process.env });
      if (r.status !== 0) throw new Error(`bench-syscalls (${v.name}) failed: ${r.stderr}`);
      const mode = /^seccomp (\d+)$/m.exec(r.stdout);
      if (!mode || Number(mode[1]) !== v.expectSeccomp) {
        throw new Error(
          `${v.name}: expected seccomp mode ${v.expectSeccomp}, got ${mode?.[1] ?? '?'}`,
        );
      }
      for (const line of r.stdout.split('\n')) {
        const m = /^(\w+) ([\d.]+)$/.exec(line);
        if (!m || m[1] === 'seccomp') continue;
        ((samples[m[1]] ??= {})[v.name] ??= []).push(Number(m[2]));
        (thisRound[m[1]] ??= {})[v.name] = Number(m[2]);
      }
    }
    for (const [op, byVariant] of Object.entries(thisRound)) {
      for (const [name, ns] of Object.entries(byVariant)) {
        ((ratios[op] ??= {})[name] ??= []).push(ns / byVariant.none);
      }
    }
    log(`  syscalls: round ${round + 1}/${rounds}`);
  }
  const nsPerCall: Record<string, Record<string, number>> = {};
  const ratioToNone: Record<string, Record<string, number>> = {};
  const medianNsPerCall: Record<string, Record<string, number>> = {};
  const medianRatioToNone: Record<string, Record<string, number>> = {};
  for (const op of Object.keys(samples)) {
    nsPerCall[op] = {};
    ratioToNone[op] = {};
    medianNsPerCall[op] = {};
    medianRatioToNone[op] = {};
    const floor = Math.min(...samples[op].none);
    for (const v of variants) {
      const best = Math.min(...samples[op][v.name]);
      nsPerCall[op][v.name] = round2(best);
      ratioToNone[op][v.name] = round4(best / floor);
      medianNsPerCall[op][v.name] = round2(median(samples[op][v.name]));
      medianRatioToNone[op][v.name] = round4(median(ratios[op][v.name]));
    }
  }
  return {
    available: true,
    note,
    iterations,
    rounds,
    ops: Object.keys(samples),
    variants: variants.map((v) => ({ name: v.name, label: v.label })),
    nsPerCall,
    ratioToNone,
    medianNsPerCall,
    medianRatioToNone,
  };
}
