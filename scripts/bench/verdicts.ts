/**
 * The targets, each with a verdict (met, missed, not measured) and a detail
 * line; a missed target says why, from the measurements themselves (the
 * control filter, the launcher's phases), never tuned to pass.
 */
import type { CompilePart } from './compile';
import type { PathPart } from './paths';
import type { StartupPart } from './startup';
import type { SyscallPart } from './syscalls';

export interface Target {
  readonly name: string;
  readonly met: boolean | null; // null: could not be measured
  readonly detail: string;
}

/**
 * Where every millisecond of `launcher -sandbox on` goes, from one run's
 * medians: the trampoline (timed with a Node stand-in), Node's start to our
 * main (beside node -e 0), each phase (from the launch record's marks), the
 * record itself (launcher minus a run without one), and what remains: the
 * exec of QEMU and QEMU itself.
 */
function phaseSummary(st: StartupPart): string {
  const m = st.launcherMarks.launcher;
  if (!m) return 'no launch record to break it down';
  const names = Object.keys(m).filter((k) => k !== 'elapsedMs');
  const parts: string[] = [];
  const trampoline = st.medianMs.trampoline;
  if (trampoline !== undefined)
    parts.push(`the sh trampoline ${trampoline.toFixed(0)} ms (its node --version included)`);
  parts.push(
    `Node start-up to the launcher's main ${m[names[0]].toFixed(0)} ms (node -e 0 takes ${(st.medianMs.node ?? NaN).toFixed(0)} ms in all)`,
  );
  for (let i = 1; i < names.length; i++) {
    const d = m[names[i]] - m[names[i - 1]];
    if (d >= 1) parts.push(`${names[i]} ${d.toFixed(0)} ms`);
  }
  if (st.recordMs !== null)
    parts.push(`the JSON launch record ${st.recordMs.toFixed(0)} ms (pino is loaded for it)`);
  const total = st.medianMs.launcher;
  if (total !== undefined && trampoline !== undefined && st.recordMs !== null) {
    const rest = total - trampoline - m.elapsedMs - st.recordMs;
    parts.push(
      `the rest (the exec of QEMU and qemu -version, which alone takes ${(st.medianMs.qemu ?? NaN).toFixed(0)} ms) ${rest.toFixed(0)} ms`,
    );
  }
  return `${parts.join(', ')} (launcher -sandbox on; phases end at the named mark: compile includes loading the FFI for the Landlock probe)`;
}

export function targets(s: SyscallPart, p: PathPart, st: StartupPart, c: CompilePart): Target[] {
  const out: Target[] = [];
  if (s.available) {
    const worst = Math.max(...s.ops.map((op) => s.ratioToNone[op].ours));
    const control = s.variants.some((v) => v.name === 'allow-only')
      ? Math.max(...s.ops.map((op) => s.ratioToNone[op]['allow-only']))
      : NaN;
    out.push({
      name: 'allowed syscalls: ours within 3% of no filter',
      met: worst <= 1.03,
      detail:
        `worst ratio ${worst.toFixed(3)} (${s.ops.map((op) => `${op} ${s.ratioToNone[op].ours.toFixed(3)}`).join(', ')})` +
        (worst <= 1.03
          ? ''
          : `. Missed, and not by our BPF: the control filter of one RET ALLOW instruction costs as much ` +
            `(worst ratio ${control.toFixed(3)}). Every call measured here is in the kernel's action cache, so ` +
            'no BPF runs for it; what remains is the price of having any seccomp filter: each syscall takes ' +
            "the kernel's seccomp entry path (syscall work flag, seccomp_data, the cache bitmap lookup). " +
            'libseccomp pays the same'),
    });
    const slower = s.ops.filter((op) =>
      s.variants.some(
        (v) =>
          v.name.startsWith('libseccomp') &&
          s.ratioToNone[op].ours > s.ratioToNone[op][v.name] * 1.02,
      ),
    );
    out.push({
      name: 'allowed syscalls: ours never slower than libseccomp (2% noise allowance)',
      met: slower.length === 0,
      detail: slower.length === 0 ? 'met on every call' : `slower on ${slower.join(', ')}`,
    });
  } else {
    out.push({ name: 'allowed syscalls', met: null, detail: s.note });
  }
  const lines: string[] = [];
  for (const abi of ['x86_64', 'aarch64'] as const) {
    const ours = p.rows.find((r) => r.abi === abi && r.program === 'ours');
    for (const lib of p.rows.filter((r) => r.abi === abi && r.program.startsWith('libseccomp ('))) {
      if (!ours) continue;
      const cmp: [string, number, number][] = [['length', ours.length, lib.length]];
      for (const k of ['all', 'denied', 'argChecked'] as const) {
        for (const m of ['min', 'mean', 'max'] as const)
          cmp.push([`${k} ${m}`, ours[k][m], lib[k][m]]);
      }
      for (const [what, a, b] of cmp) {
        if (a >= b)
          lines.push(`${abi} ${what}: ours ${a.toFixed(2)} vs ${lib.program} ${b.toFixed(2)}`);
      }
    }
  }
  const haveLib = p.rows.some((r) => r.program.startsWith('libseccomp'));
  out.push({
    name: 'path length: shorter programs and fewer instructions than libseccomp on every line',
    met: haveLib ? lines.length === 0 : null,
    detail: haveLib
      ? lines.length === 0
        ? 'met on every line (x86_64, aarch64): strictly fewer everywhere'
        : `missed: ${lines.join('; ')}. A minimum above libseccomp's is the price of the balanced search: its ` +
          'priority-ordered list answers the first syscalls it lists after a few instructions, every other ' +
          'one later; our search answers every syscall after about log2(#ranges) comparisons'
      : p.note,
  });
  const covered = p.rows
    .filter((r) => r.program === 'ours')
    .every((r) => r.cache.cached === r.cache.allowedTotal);
  out.push({
    name: 'cache coverage 100% (ours, every ABI)',
    met: covered,
    detail: covered ? 'met' : 'missed',
  });
  if (st.available) {
    // files=deny is opt-in and reported on its own line (see the start-up section).
    const worst = Math.max(
      ...Object.entries(st.addedMs)
        .filter(([k]) => !k.includes('files'))
        .map(([, v]) => v),
    );
    out.push({
      name: 'start-up: launcher adds < 30 ms beyond node -e 0 + QEMU',
      met: worst < 30,
      detail:
        Object.entries(st.addedMs)
          .map(([k, v]) => `${k} +${v.toFixed(1)} ms`)
          .join(', ') + (worst < 30 ? '' : `. Missed; where the time goes: ${phaseSummary(st)}`),
    });
  } else {
    out.push({
      name: 'start-up: launcher adds < 30 ms',
      met: null,
      detail: st.note || 'not measured',
    });
  }
  out.push({
    name: 'compile: under 1 ms per program',
    met: c.perProgramMs.mean < 1,
    detail: `mean ${c.perProgramMs.mean.toFixed(3)} ms, p95 ${c.perProgramMs.p95.toFixed(3)} ms, max ${c.perProgramMs.max.toFixed(3)} ms over ${c.programs * c.rounds} compiles`,
  });
  return out;
}
