/**
 * `qemu-sandbox compile --format disasm | grep NAME` finds the instruction
 * that decides NAME, for every syscall every policy denies (or checks the
 * arguments of) on x86_64 and aarch64. "Decides" is taken from the
 * interpreter, not from the disassembler: the last comparison on nr that the
 * call executes (traceFilter). Every comparison on its path also has the
 * call's number among the values the disassembler says reach it.
 */
import { getAbi } from '../../../src/arch';
import {
  SECCOMP_DATA,
  actionName,
  isConditionalJump,
  traceFilter,
  valueFlow,
} from '../../../src/bpf';
import { compilePolicy } from '../../../src/compiler';
import { activeRules, everyCompiledPolicy, policyToString } from '../../../src/policy';
import { run } from './run';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** As `grep -w` would match a syscall name in a line. */
const word = (name: string): RegExp =>
  new RegExp(`(^|[^A-Za-z0-9_])${escape(name)}($|[^A-Za-z0-9_])`);

describe.each(['x86_64', 'aarch64'] as const)('%s', (abiName) => {
  const abi = getAbi(abiName);

  test('every denied syscall of every policy is named on the comparison that decides it', async () => {
    const problems: string[] = [];
    let checked = 0;
    for (const policy of everyCompiledPolicy()) {
      const text = policyToString(policy, { full: true });
      const r = await run(['compile', text, '--arch', abiName, '--format', 'disasm']);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => /^ *\d+: /.test(l));
      const f = compilePolicy(policy, abiName);
      expect(lines).toHaveLength(f.program.length);
      const flow = valueFlow(f.program);
      for (const rule of activeRules(policy, abi)) {
        const { action, trace } = traceFilter(
          f.program,
          {
            nr: rule.nr,
            arch: abi.auditArch,
            instructionPointer: 0n,
            args: [0n, 0n, 0n, 0n, 0n, 0n],
          },
          abi.endian,
        );
        const onNr = trace.filter((pc) => {
          const s = flow.before[pc];
          return (
            isConditionalJump(f.program[pc].code) &&
            s.kind === 'word' &&
            s.offset === SECCOMP_DATA.nr
          );
        });
        for (const pc of onNr) {
          const s = flow.before[pc];
          if (s.kind === 'word' && !s.values.some(([lo, hi]) => rule.nr >= lo && rule.nr <= hi)) {
            problems.push(
              `${text}: ${rule.syscall} (${rule.nr}) runs ${pc}, whose values exclude it`,
            );
          }
        }
        const decider = onNr[onNr.length - 1];
        const grep = lines.filter((l) => word(rule.syscall).test(l));
        if (decider === undefined || !grep.includes(lines[decider])) {
          problems.push(
            `${text}: grep ${rule.syscall} gives ${JSON.stringify(grep)}, decided at ${decider}`,
          );
        } else if (!rule.unless && !lines[decider].includes(actionName(action))) {
          problems.push(
            `${text}: ${lines[decider]} does not say ${actionName(action)} for ${rule.syscall}`,
          );
        }
        checked++;
      }
      if (problems.length > 10) break;
    }
    expect(problems).toEqual([]);
    // Every policy denies something: at least the default group on each of the 192.
    expect(checked).toBeGreaterThan(192 * 40);
  });
});
