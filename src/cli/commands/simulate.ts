/**
 * `simulate POLICY SYSCALL [ARG...]`: one call through the compiled program in
 * src/bpf's interpreter. The verdict and the path (the instructions it
 * executed) are the interpreter's; the rule shown next to them is only an
 * explanation, taken from the policy's active rules and judged by src/policy's
 * condition evaluator.
 */
import { ABI_NAMES, errnoName, getAbi } from '../../arch';
import type { Abi, AbiName } from '../../arch/types';
import { actionName, disassemble, traceFilter } from '../../bpf';
import type { SeccompData } from '../../bpf/types';
import { SECCOMP_RET } from '../../bpf/types';
import { actionValue } from '../../compiler';
import { activeRules, comparedValue, conditionHolds, maskedMismatch } from '../../policy';
import type { ActiveRule, ArgCondition } from '../../policy/types';
import type { CliContext } from '../context';
import { table, toJson } from '../context';
import { InputError } from '../errors';
import { readArch, readPolicy } from '../policy-input';
import { compileFor, disasmOptions } from '../program';
import {
  actionWords,
  argName,
  cloneFlagNamesOf,
  conditionWords,
  killClassWords,
  valueWords,
} from '../words';

export interface SimulateOptions {
  readonly policy: string;
  readonly syscall: string;
  readonly args: readonly string[];
  readonly arch?: string;
  readonly json: boolean;
}

const U64 = (1n << 64n) - 1n;

/** Decimal (negative ones as the two's complement a register would hold) or 0x hex, as a u64. */
export function parseArg(text: string, index: number): bigint {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t) || /^\d+$/.test(t) || /^-\d+$/.test(t)) {
    const v = BigInt(t);
    if (v > U64 || v < -(1n << 63n))
      throw new InputError(`argument ${index} (${text}) does not fit 64 bits`);
    return v & U64;
  }
  throw new InputError(`argument ${index} '${text}' is not a number (decimal or 0x hex)`);
}

/** A name of `abi`, or a number (decimal or hex) taken as the run-time number. */
export function parseSyscall(text: string, abi: Abi): { nr: number; name?: string } {
  const t = text.trim();
  if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) {
    const v = Number(BigInt(t));
    if (v > 0xffffffff) throw new InputError(`syscall number ${text} does not fit 32 bits`);
    return { nr: v, name: abi.names.get(v) };
  }
  const nr = abi.syscalls.get(t);
  if (nr === undefined) throw new InputError(`unknown syscall '${text}' for ${abi.name}`);
  return { nr, name: t };
}

/** The part of an `unless` condition these arguments miss, in words. */
export function whyNotExempt(
  syscall: string,
  c: ArgCondition,
  args: readonly bigint[],
  cloneFlagsArg: number,
): string {
  const name = argName(syscall, c.arg, cloneFlagsArg);
  if (c.op === 'masked') {
    const { missing, extra } = maskedMismatch(c, args);
    const parts = [
      ...(missing ? [`lacks ${cloneFlagNamesOf(syscall, missing)}`] : []),
      ...(extra ? [`has ${cloneFlagNamesOf(syscall, extra)}`] : []),
    ];
    return `${name} ${parts.join(' and ')}`;
  }
  const v = comparedValue(c, args);
  const shown = valueWords(syscall, c.arg, cloneFlagsArg, v);
  const allowed = (c.values ?? []).map((x) => valueWords(syscall, c.arg, cloneFlagsArg, x));
  switch (c.op) {
    case 'eq':
      return `${name} is ${shown}, not ${allowed[0]}`;
    case 'notin':
      return `${name} is ${shown}, one of ${allowed.join(', ')}`;
    case 'range': {
      const bound = (x: bigint | undefined): string =>
        valueWords(syscall, c.arg, cloneFlagsArg, x ?? 0n);
      return `${name} is ${shown}, not between ${bound(c.min)} and ${bound(c.max)}`;
    }
    default:
      return `${name} is ${shown}, not one of ${allowed.join(', ')}`;
  }
}

export interface SimulateJson {
  readonly abi: string;
  readonly host: string;
  readonly policy: string;
  readonly syscall: { readonly nr: number; readonly name: string | null };
  readonly args: string[];
  readonly verdict: {
    readonly value: number;
    readonly action: string;
    readonly errno: string | null;
  };
  readonly allowed: boolean;
  readonly explanation: string;
  readonly rule: {
    readonly group: string;
    readonly reason: string;
    readonly condition: string | null;
    readonly conditionHolds: boolean | null;
  } | null;
  readonly executed: number;
  /** The instructions executed, disassembled, in order. */
  readonly path: string[];
  readonly programLength: number;
}

export function simulate(ctx: CliContext, opts: SimulateOptions): SimulateJson {
  const arch = readArch(opts.arch);
  const p = readPolicy(opts.policy, ctx.env);
  if (opts.args.length > 6)
    throw new InputError(`${opts.args.length} arguments given: a syscall has at most 6`);
  const args = opts.args.map((a, i) => parseArg(a, i));
  const call = parseSyscall(opts.syscall, arch.abi);
  const base = {
    abi: arch.abi.name,
    host: arch.host.native.name,
    policy: p.canonical,
    syscall: { nr: call.nr, name: call.name ?? null },
    args: args.map((a) => `0x${a.toString(16)}`),
  };
  if (!p.policy.enable) {
    return {
      ...base,
      verdict: { value: SECCOMP_RET.ALLOW, action: 'ALLOW', errno: null },
      allowed: true,
      explanation: 'the policy is off: no filter is loaded',
      rule: null,
      executed: 0,
      path: [],
      programLength: 0,
    };
  }
  const f = compileFor(p, arch.host);
  const data: SeccompData = {
    nr: call.nr,
    arch: arch.abi.auditArch,
    instructionPointer: 0n,
    args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6),
  };
  const result = traceFilter(f.program, data, arch.host.native.endian);
  const lines = disassemble(f.program, disasmOptions(arch.host)).split('\n');
  const value = result.action >>> 0;
  const action = (value & SECCOMP_RET.ACTION_FULL) >>> 0;
  const errno =
    action === SECCOMP_RET.ERRNO
      ? (errnoName(arch.host.native.name, value & SECCOMP_RET.DATA) ?? null)
      : null;

  let rule: ActiveRule | undefined;
  let explanation: string;
  const foreign = arch.abi.foreignNumbers.find((f) => call.nr >= f.lo && call.nr <= f.hi);
  if (arch.foreign) {
    explanation = `${arch.abi.name} is a foreign ABI on ${arch.host.native.name}: the arch check comes first, every call is ${killClassWords(p.policy.action)}`;
  } else if (foreign) {
    const table = (ABI_NAMES as readonly string[]).includes(foreign.abi)
      ? getAbi(foreign.abi as AbiName)
      : undefined;
    const other = table?.names.get(call.nr);
    explanation = `an ${foreign.abi} number${other ? ` (${foreign.abi} ${other})` : ''}: ${killClassWords(p.policy.action)}, QEMU never uses the ${foreign.abi} ABI`;
  } else {
    // Usually one rule; several when each has a condition (ioctl). The one
    // that decided is a rule that does not exempt the call and returns the
    // interpreter's verdict; when every rule exempts it, each says why.
    const rules = activeRules(p.policy, arch.abi).filter((r) => r.nr === call.nr);
    const applying = rules.filter((r) => !r.unless || !conditionHolds(r.unless, args));
    rule = applying.find((r) => actionValue(r.action) >>> 0 === value) ?? applying[0] ?? rules[0];
    const exemption = (r: ActiveRule & { unless: ArgCondition }): string =>
      // A flag mask in full is a paragraph (JSON has it): say what matched.
      r.unless.op === 'masked'
        ? `${r.group}: allowed: ${argName(r.syscall, r.unless.arg, arch.abi.cloneFlagsArg)} has every flag the exemption requires and none it forbids`
        : `${r.group}: allowed because ${conditionWords(r.syscall, r.unless, arch.abi.cloneFlagsArg)}`;
    if (!rule) {
      explanation =
        call.name === undefined
          ? 'not a syscall of this ABI: no rule names it'
          : 'no active group names it';
    } else if (applying.length === 0) {
      explanation = rules
        .map((r) => exemption(r as ActiveRule & { unless: ArgCondition }))
        .join('; ');
    } else {
      const unless = rule.unless
        ? ` (${whyNotExempt(rule.syscall, rule.unless, args, arch.abi.cloneFlagsArg)})`
        : '';
      explanation = `${rule.group}: ${rule.syscall} ${actionWords(rule.action)}${unless}`;
    }
  }
  return {
    ...base,
    verdict: { value, action: actionName(value), errno },
    allowed: action === SECCOMP_RET.ALLOW,
    explanation,
    rule: rule
      ? {
          group: rule.group,
          reason: rule.reason,
          condition: rule.unless
            ? conditionWords(rule.syscall, rule.unless, arch.abi.cloneFlagsArg)
            : null,
          conditionHolds: rule.unless ? conditionHolds(rule.unless, args) : null,
        }
      : null,
    executed: result.executed,
    path: result.trace.map((pc) => lines[pc].trim()),
    programLength: f.program.length,
  };
}

export function runSimulate(ctx: CliContext, opts: SimulateOptions): void {
  const r = simulate(ctx, opts);
  if (opts.json) {
    ctx.stdout.write(toJson(r));
    return;
  }
  const name = r.syscall.name ?? `#${r.syscall.nr}`;
  const verdict = r.verdict.errno ? `${r.verdict.action} ${r.verdict.errno}` : r.verdict.action;
  const rows: string[][] = [
    ['policy', r.policy],
    ['abi', r.abi === r.host ? r.abi : `${r.abi} on a ${r.host} host`],
    ['call', `${name}(${r.args.join(', ')})  nr ${r.syscall.nr}`],
    ['verdict', verdict],
    ['why', r.explanation],
  ];
  if (r.rule) rows.push(['reason', r.rule.reason]);
  rows.push([
    'executed',
    r.programLength ? `${r.executed} of ${r.programLength} instructions:` : 'none',
  ]);
  ctx.stdout.write(table(rows) + r.path.map((l) => `  ${l}\n`).join(''));
}
