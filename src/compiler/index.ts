/**
 * src/compiler: a -sandbox policy -> the one seccomp BPF program the launcher
 * loads for a host ABI, plus the measurements the CLI, the bench and the tests
 * report about it (action-cache coverage, instructions executed).
 *
 * May import src/bpf, src/arch and src/policy; nothing above.
 */
import { getHostAbi } from '../arch';
import type { AbiName } from '../arch/types';
// Specific modules, not the src/bpf index: the launcher loads this file on
// every start and needs neither the disassembler nor the interpreter.
import { encodeProgram } from '../bpf/codec';
import { activeRules } from '../policy';
import type { SandboxPolicy } from '../policy/types';
import { killClassValue } from './actions';
import { sha256Hex } from './sha256';
import { generateProgram } from './codegen';
import { buildSegments, foreignRanges, plansFor } from './plan';
import type { CompiledFilter } from './types';
import type * as Stats from './stats';

export type { CompiledFilter } from './types';
export { generateProgram } from './codegen';
export { UnreachableRuleError, buildSegments, foreignRanges, plansFor } from './plan';
export type { Plan, Segment } from './plan';
export { actionValue, killClassValue, precedenceRank } from './actions';
export type { CacheCoverage, PathCase, PathStats, PathSummary } from './stats';

/**
 * Compiles `policy` for the host ABI `abiName`. Deterministic: the same
 * policy and ABI give the same bytes (and hash) on every run and machine.
 */
export function compilePolicy(policy: SandboxPolicy, abiName: AbiName): CompiledFilter {
  if (!policy.enable) {
    throw new Error('compilePolicy: the policy is "-sandbox off"; there is no filter to compile');
  }
  const abi = getHostAbi(abiName).native;
  const rules = activeRules(policy, abi);
  const killValue = killClassValue(policy, abi);
  const segs = buildSegments(plansFor(rules), foreignRanges(abi, killValue));
  const program = generateProgram(abi, segs, killValue);
  const bytes = encodeProgram(program, abi.endian);
  return Object.freeze({
    abi: abi.name,
    policy,
    program: Object.freeze(program),
    bytes,
    hash: sha256Hex(bytes),
    needsExecGate: rules.some((r) => r.action.type === 'notify'),
  });
}

/*
 * The measurements live in ./stats, which pulls in the BPF interpreter and the
 * cache emulator. The launcher loads this file on every start and never
 * measures, so ./stats is loaded on first use only (about 3 ms of start-up).
 */
let stats: typeof Stats | undefined;
function loadStats(): typeof Stats {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  stats ??= require('./stats') as typeof Stats;
  return stats;
}

/** Kernel action-cache coverage of a compiled filter (see ./stats). */
export const cacheCoverage: typeof Stats.cacheCoverage = (f) => loadStats().cacheCoverage(f);
/** Instructions executed: min/mean/max over all table numbers, denied ones, argument-checked cases. */
export const pathStats: typeof Stats.pathStats = (f) => loadStats().pathStats(f);
/** Runs any program (libseccomp's too) on the cases and summarizes instructions executed. */
export const measurePaths: typeof Stats.measurePaths = (p, a, c) =>
  loadStats().measurePaths(p, a, c);
/** The cases pathStats measures for a policy on one ABI. */
export const pathCases: typeof Stats.pathCases = (p, a) => loadStats().pathCases(p, a);
/** Argument tuples on both sides of one condition. */
export const argCasesFor: typeof Stats.argCasesFor = (c) => loadStats().argCasesFor(c);
