/**
 * Every group, every syscall it denies on x86_64, tried for real by the probe
 * under the filter the launcher loaded: through the native ABI, the x32 ABI
 * (seccomp sees x32 numbers even though this kernel has no x32) and the i386
 * ABI (`int $0x80`, when the kernel offers it: detected, not assumed).
 *
 * The rules come from the policy module (`activeRules`, reading filters/*.json:
 * the data the launcher compiles), so a group that grows is tested without
 * editing this file; a few expectations of the contract (the README's group
 * table) are pinned as well, so data that drifts from it fails too.
 *
 * Speed: calls whose action kills run in a child the probe forks per call
 * (`--fork-each`: the filter is inherited), so one launch tests ~200 calls.
 * spawn=deny forbids that fork, and its rules return errors, so its native
 * calls run in one process; its x32/i386 calls (which kill) get one launch each.
 *
 * Every call also runs without any filter (the probe started directly), and
 * the table at .cache/launcher-matrix.md shows both: an errno rule whose errno
 * the kernel would give anyway would prove nothing, and the test says so.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X32_SYSCALL_BIT, getAbi } from '../../src/arch';
import { activeRules, conditionHolds, parsePolicy } from '../../src/policy';
import type { ActiveRule, ArgCondition, ResolvedAction } from '../../src/policy';
import { REPO_ROOT } from '../helpers/cbuild';
import {
  Outcome,
  ProbeRun,
  SAFE_ARGS,
  SIGSYS,
  baseEnv,
  commandOutcome,
  describeRun,
  emptyConfig,
  lineResult,
  outcomeCell,
  outcomeText,
  probeBinary,
  requireWorkingLauncher,
  runProbe,
  scratchDir,
} from '../helpers/probe';

jest.setTimeout(120000);

const X86_64 = getAbi('x86_64');
const X32 = getAbi('x32');
const I386 = getAbi('i386');

/** Every group but spawn, with spawn allowed so the probe may fork per call. */
const FULL = 'on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny,network=deny';
const SPAWN = 'on,spawn=deny';

type AbiCol = 'x86_64' | 'x32' | 'i386';

/** What a case must show. 'natural': whatever the kernel answers without a filter. */
type Expected =
  | { readonly kind: 'killed' }
  | { readonly kind: 'trapped' }
  | { readonly kind: 'errno'; readonly errname: string }
  | { readonly kind: 'natural' }
  | { readonly kind: 'ok' };

interface Case {
  readonly group: string;
  readonly syscall: string;
  readonly abi: AbiCol;
  /** denied: the rule's action applies; exception: its `unless` holds; allowed: no rule. */
  readonly variant: 'denied' | 'exception' | 'allowed';
  readonly command: readonly string[];
  readonly expected: Expected;
}

// ---- building the cases ---------------------------------------------------------

function expectedFor(action: ResolvedAction): Expected {
  switch (action.type) {
    case 'kill-process':
      return { kind: 'killed' };
    case 'trap':
      return { kind: 'trapped' };
    case 'errno':
      return { kind: 'errno', errname: action.errnoName };
    case 'log':
      return { kind: 'natural' };
    case 'notify':
      // The gate let our exec through and closed the listener: from then on
      // the kernel answers a USER_NOTIF with ENOSYS.
      return { kind: 'errno', errname: 'ENOSYS' };
  }
}

function safeArgs(syscall: string): readonly string[] {
  const a = SAFE_ARGS[syscall];
  if (!a) {
    throw new Error(
      `no harmless arguments for "${syscall}": add it to SAFE_ARGS in test/helpers/probe.ts ` +
        '(arguments that make it fail if a filter let it through)',
    );
  }
  return a;
}

/** A token of SAFE_ARGS as the number the kernel sees (pointers: some large value). */
function argValue(token: string): bigint {
  if (token === 'null') return 0n;
  if (token === 'bad' || token.startsWith('str:') || token.startsWith('buf:'))
    return 0x7f0000000000n;
  const v = BigInt(token.startsWith('-') ? -BigInt(token.slice(1)) : BigInt(token));
  return BigInt.asUintN(64, v);
}

/** The policy module's condition semantics, on our own argument tokens. */
function conditionHoldsFor(c: ArgCondition, args: readonly string[]): boolean {
  return conditionHolds(
    c,
    args.map((a) => argValue(a)),
  );
}

/**
 * The native command for a denied call. Process creation and exec have their
 * own probe commands (a raw fork through `try` would run the rest twice).
 */
function nativeCommand(syscall: string, nr: number): readonly string[] {
  switch (syscall) {
    case 'fork':
      return ['fork-raw'];
    case 'vfork':
      return ['vfork'];
    case 'clone':
      return ['clone-raw', '17']; // SIGCHLD only: what fork-like callers pass
    case 'clone3':
      return ['clone3'];
    case 'execve':
      return ['exec', '/proc/self/exe', 'execed'];
    case 'execveat':
      return ['execveat'];
    default:
      return ['try', String(nr), ...safeArgs(syscall)];
  }
}

/** Arguments for a foreign-ABI try of a call with no SAFE_ARGS entry of its own. */
function foreignArgs(syscall: string): readonly string[] {
  if (syscall === 'clone') return ['17', '0', '0', '0', '0'];
  return SAFE_ARGS[syscall] ?? [];
}

function foreignCases(
  rule: { readonly group: string; readonly syscall: string; readonly nr: number },
  killed: Expected,
  variant: Case['variant'] = 'denied',
): Case[] {
  const out: Case[] = [];
  const x32nr = X32.syscalls.get(rule.syscall) ?? (rule.nr | X32_SYSCALL_BIT) >>> 0;
  out.push({
    group: rule.group,
    syscall: rule.syscall,
    abi: 'x32',
    variant,
    command: [
      'try',
      String((x32nr & ~X32_SYSCALL_BIT) >>> 0),
      ...foreignArgs(rule.syscall),
      '--x32',
    ],
    expected: killed,
  });
  const i386nr = I386.syscalls.get(rule.syscall);
  if (i386nr !== undefined) {
    out.push({
      group: rule.group,
      syscall: rule.syscall,
      abi: 'i386',
      variant,
      command: ['int80', String(i386nr), ...foreignArgs(rule.syscall)],
      expected: killed,
    });
  }
  return out;
}

/** The cases for one rule: native denied, its exception if it has one, x32, i386. */
function ruleCases(rule: ActiveRule, foreignExpected: Expected): Case[] {
  const base = { group: rule.group, syscall: rule.syscall, abi: 'x86_64' as const };
  let command = nativeCommand(rule.syscall, rule.nr);
  // A syscall with a rule in two groups (ioctl): SAFE_ARGS fit one of them;
  // for a notin rule they fit, its first listed value makes the denied case.
  const u = rule.unless;
  if (u?.op === 'notin' && command[0] === 'try' && conditionHoldsFor(u, command.slice(2))) {
    const args = [...command.slice(2)];
    while (args.length <= u.arg) args.push('0');
    args[u.arg] = `0x${(u.values?.[0] ?? 0n).toString(16)}`;
    command = ['try', String(rule.nr), ...args];
  }
  const out: Case[] = [{ ...base, variant: 'denied', command, expected: expectedFor(rule.action) }];
  if (rule.unless) {
    if (rule.syscall === 'clone') {
      // pthread_create passes exactly a thread's flags: the exception.
      out.push({
        ...base,
        variant: 'exception',
        command: ['clone-thread'],
        expected: { kind: 'ok' },
      });
    } else {
      const c = rule.unless;
      if (command[0] === 'try' && conditionHoldsFor(c, command.slice(2))) {
        throw new Error(
          `SAFE_ARGS for ${rule.syscall} satisfy its "unless": the denied case would not be denied`,
        );
      }
      // Values that meet the condition: each listed one, a value outside a
      // notin list, a mask's required bits alone, a range's upper bound (the
      // lower one, pid 1 for kill, is init: outside the launcher's Landlock
      // domain, whose signal scoping refuses it; the unit tests hold both bounds).
      const meeting: bigint[] =
        c.op === 'masked'
          ? [c.allOf ?? 0n]
          : c.op === 'range'
            ? [c.max ?? 0n]
            : c.op === 'notin'
              ? [0n]
              : [...(c.values ?? [])];
      for (const v of meeting) {
        const args = [...command.slice(2)];
        while (args.length <= c.arg) args.push('0');
        args[c.arg] = String(v);
        out.push({
          ...base,
          variant: 'exception',
          command: ['try', String(rule.nr), ...args],
          expected: { kind: 'natural' },
        });
      }
    }
  }
  out.push(...foreignCases(rule, foreignExpected));
  return out;
}

const KILLED: Expected = { kind: 'killed' };

const fullRules = activeRules(parsePolicy(FULL), X86_64);
const spawnRules = activeRules(parsePolicy(SPAWN), X86_64).filter((r) => r.group === 'spawn');

/** Cases run in one forked-per-call launch under FULL. */
const fullCases: Case[] = [
  ...fullRules.flatMap((r) => ruleCases(r, KILLED)),
  {
    group: '(none)',
    syscall: 'getpid',
    abi: 'x86_64',
    variant: 'allowed',
    command: ['try', 'getpid'],
    expected: { kind: 'ok' },
  },
  // x32 and i386 are killed whatever the call: QEMU never uses them.
  ...foreignCases({ group: '(none)', syscall: 'getpid', nr: 39 }, KILLED, 'allowed'),
  // nr -1 is above the x32 bit as an unsigned number, but it is what ptrace
  // tracers set to skip a call: not x32, never killed (the kernel answers ENOSYS).
  {
    group: '(none)',
    syscall: 'nr -1',
    abi: 'x86_64',
    variant: 'allowed',
    command: ['try', '-1'],
    expected: { kind: 'natural' },
  },
];

const spawnAll = spawnRules.flatMap((r) => ruleCases(r, KILLED));
/** spawn=deny: native calls in one process (they return errors), exec calls last. */
const isExec = (c: Case): boolean => c.command[0] === 'exec' || c.command[0] === 'execveat';
const spawnNative = [
  ...spawnAll.filter((c) => c.abi === 'x86_64' && !isExec(c)),
  ...spawnAll.filter((c) => c.abi === 'x86_64' && isExec(c)),
];
/** The same without a filter, minus exec (which would end the run: it works). */
const spawnNatural = spawnNative.filter((c) => !isExec(c));
/** spawn=deny: x32/i386 calls, which kill: one launch each. */
const spawnForeign = spawnAll.filter((c) => c.abi !== 'x86_64');

/** Calls QEMU needs that the default policy must leave alone. */
const DEFAULT_ALLOWED = [
  'getpid',
  'read',
  'bpf',
  'userfaultfd',
  'io_uring_setup',
  'memfd_create',
  'perf_event_open',
  'seccomp',
  'prctl',
  'sched_setaffinity',
  'mbind',
  'set_mempolicy',
  'chroot',
  'ioctl',
  'socket',
];
/** Where SAFE_ARGS take the denied branch of a conditional rule: the arguments QEMU uses. */
const AS_QEMU_CALLS: Readonly<Record<string, readonly string[]>> = {
  perf_event_open: ['bad', '0', '-1', '-1', '0'], // its own counters
  seccomp: ['1', '1', 'null'], // QEMU's probe for its own -sandbox: EFAULT
  ioctl: ['-1', '0', '0'],
};
const defaultCommands: (readonly string[])[] = [
  ['pid'],
  ...DEFAULT_ALLOWED.map((s) => ['try', s, ...(AS_QEMU_CALLS[s] ?? safeArgs(s))]),
  ['read-file', '/proc/self/stat'],
  ['try', 'socket', '1', '1', '0'],
  ['clone-thread'],
  ['fork'],
  ['exec', '/proc/self/exe', 'execed'], // spawn is allowed by default: exec works, same pid
];

/** pid, then a kill-class call in the probe's own process, then pid again (never printed). */
const KILL_SELF: (readonly string[])[] = [['pid'], ['try', 'reboot', ...SAFE_ARGS.reboot], ['pid']];

/**
 * x32 and i386 die under every policy (with action=kill): QEMU never uses them.
 * null: no -sandbox at all (the default policy).
 */
const FOREIGN_POLICIES: readonly (string | null)[] = [
  null,
  'on',
  'on,obsolete=allow',
  'on,elevateprivileges=children',
  'on,resourcecontrol=deny',
  'on,network=deny',
  FULL,
];
const FOREIGN_COMMANDS: (readonly string[])[] = [
  ['try', 'getpid', '--x32'],
  ['try', '0', '-1', 'bad', '1', '--x32'], // read
  ['int80', '20'], // getpid
  ['int80', '3', '-1', 'bad', '1'], // read
];

/** One kill-class call (and the foreign ABIs) under each action= variant. */
const ACTIONS = ['errno', 'trap', 'log'] as const;
const actionCommands: (readonly string[])[] = [
  ['try', 'reboot', ...SAFE_ARGS.reboot],
  ['try', 'sethostname', ...SAFE_ARGS.sethostname],
  ['try', 'getpid', '--x32'],
  ['int80', '20'],
];

// ---- running ------------------------------------------------------------------

let env: Record<string, string> = {};
let dir = '';
let setupError: Error | undefined;
const runs: Record<string, ProbeRun> = {};
const matrixNotes: string[] = [];

async function limit<T>(tasks: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return out;
}

const launch = (
  sandbox: string | null,
  commands: readonly (readonly string[])[],
  forkEach: boolean,
) =>
  runProbe({
    via: sandbox === null ? [] : ['-sandbox', sandbox],
    commands,
    forkEach,
    env,
    detached: true,
    // network=deny: without it the preflight refuses, as QEMU would add a
    // user-net NIC (the probe skips it).
    qemuArgs: ['-nodefaults'],
  });
const direct = (commands: readonly (readonly string[])[], forkEach: boolean) =>
  runProbe({ via: 'direct', commands, forkEach, env, detached: true, qemuArgs: ['-nodefaults'] });

beforeAll(async () => {
  try {
    dir = scratchDir('groups');
    env = baseEnv(probeBinary(), emptyConfig(dir));
    await requireWorkingLauncher(env);
    const jobs: [string, () => Promise<ProbeRun>][] = [
      [
        'full',
        () =>
          launch(
            FULL,
            fullCases.map((c) => c.command),
            true,
          ),
      ],
      [
        'full-natural',
        () =>
          direct(
            fullCases.map((c) => c.command),
            true,
          ),
      ],
      [
        'spawn',
        () => launch(SPAWN, [['pid'], ...spawnNative.map((c) => c.command), ['pid']], false),
      ],
      [
        'spawn-natural',
        () =>
          direct(
            spawnNatural.map((c) => c.command),
            false,
          ),
      ],
      // A kill-class call in the probe itself (not a forked child): the process
      // execa started, launcher then probe, dies with SIGSYS.
      ['kill-self', () => launch('on', KILL_SELF, false)],
      ...FOREIGN_POLICIES.map((p, i): [string, () => Promise<ProbeRun>] => [
        `foreign-${i}`,
        () => launch(p, FOREIGN_COMMANDS, true),
      ]),
      ['default', () => launch(null, defaultCommands, false)],
      ['default-natural', () => direct(defaultCommands, false)],
      ['int80-natural', () => direct([['int80'], ['pid']], false)],
      ...ACTIONS.filter((a) => a !== 'log').map((a): [string, () => Promise<ProbeRun>] => [
        `action-${a}`,
        () => launch(`on,action=${a}`, actionCommands, true),
      ]),
      ['action-natural', () => direct(actionCommands, true)],
      ...spawnForeign.map((c, i): [string, () => Promise<ProbeRun>] => [
        `spawn-foreign-${i}`,
        () => launch(SPAWN, [c.command], false),
      ]),
    ];
    // action=log first and alone: its audit record must not be rate-limited
    // away by the kill records of the other runs (see its test).
    runs['action-log'] = await launch('on,action=log', actionCommands, true);
    const results = await limit(
      jobs.map(([, f]) => f),
      2,
    );
    jobs.forEach(([name], i) => (runs[name] = results[i]));
  } catch (e) {
    setupError = e as Error;
  }
});

function run(name: string): ProbeRun {
  if (setupError) throw setupError;
  const r = runs[name];
  if (!r) throw new Error(`no run ${name}`);
  return r;
}

/** The run and command index where a case was tried, under the filter and without. */
function where(c: Case): { filtered: [string, number]; natural: [string, number] } {
  let i = fullCases.indexOf(c);
  if (i >= 0) return { filtered: ['full', i], natural: ['full-natural', i] };
  i = spawnNative.indexOf(c);
  if (i >= 0) {
    const n = spawnNatural.indexOf(c);
    return { filtered: ['spawn', i + 1], natural: n >= 0 ? ['spawn-natural', n] : ['', -1] };
  }
  i = spawnForeign.indexOf(c);
  if (i >= 0) return { filtered: [`spawn-foreign-${i}`, 0], natural: ['', -1] };
  throw new Error('unknown case');
}

function outcomeAt(name: string, index: number): Outcome | undefined {
  if (name === '') return undefined;
  return commandOutcome(run(name), index);
}

/** Same kind of end, and the same errno; return values (pids, fds) may differ. */
function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'errno' && b.kind === 'errno') return a.errname === b.errname;
  if (a.kind === 'killed' && b.kind === 'killed') return a.signal === b.signal;
  return true;
}

function matches(o: Outcome, e: Expected, natural: Outcome | undefined): boolean {
  switch (e.kind) {
    case 'killed':
      return o.kind === 'killed' && o.signal === SIGSYS;
    case 'trapped':
      return o.kind === 'trapped';
    case 'errno':
      return o.kind === 'errno' && o.errname === e.errname;
    case 'ok':
      return o.kind === 'ok';
    case 'natural':
      return natural !== undefined && sameOutcome(o, natural) && o.kind !== 'killed';
  }
}

function expectedText(e: Expected): string {
  switch (e.kind) {
    case 'killed':
      return 'SIGSYS';
    case 'trapped':
      return 'SIGSYS (trapped)';
    case 'errno':
      return e.errname;
    case 'ok':
      return 'ok';
    case 'natural':
      return 'as unfiltered';
  }
}

function checkCase(c: Case): void {
  const w = where(c);
  const got = outcomeAt(...w.filtered);
  const natural = outcomeAt(...w.natural);
  if (!got) throw new Error('no outcome');
  const ctx = `${c.command.join(' ')} under ${w.filtered[0]}: got ${outcomeText(got)}, expected ${expectedText(
    c.expected,
  )}${natural ? ` (unfiltered: ${outcomeText(natural)})` : ''}`;
  if (got.kind === 'error') throw new Error(`${ctx}\n${describeRun(run(w.filtered[0]))}`);
  if (c.abi === 'i386' && !int80Available()) {
    // The CPU refuses int $0x80 before seccomp (no IA32 emulation): the call
    // must fault, never run; the interpreter tests carry the i386 ABI.
    if (got.kind !== 'fault') throw new Error(`${ctx}: int $0x80 should fault on this kernel`);
    return;
  }
  if (!matches(got, c.expected, natural)) throw new Error(ctx);
}

// ---- int $0x80 ----------------------------------------------------------------

/** Whether this kernel offers the i386 ABI to 64-bit processes (IA32 emulation). */
function int80Available(): boolean {
  const r = run('int80-natural');
  const o = commandOutcome(r, 0);
  const pid = commandOutcome(r, 1);
  if (o.kind === 'fault') return false;
  if (o.kind === 'ok' && pid.kind === 'ok' && o.ret === lineResult(r.lines[0])?.pid) return true;
  throw new Error(`int $0x80 neither faulted nor answered getpid:\n${describeRun(r)}`);
}

describe('int $0x80 (the i386 ABI) on this kernel', () => {
  test('is detected: it faults before any filter, or it reaches seccomp and the filter kills it', () => {
    const i386Cases = fullCases.filter((c) => c.abi === 'i386');
    expect(i386Cases.length).toBeGreaterThan(10);
    if (int80Available()) {
      // IA32 emulation is on: the i386 ABI is real here, and every i386 call
      // (getpid included) must die under the filter; checked per call below.
      matrixNotes.push(
        'int $0x80 works on this kernel (IA32 emulation is on: getpid through int $0x80 returned the pid ' +
          'without a filter), so the i386 column is tested for real: the filter kills every i386 call.',
      );
      const getpid = fullCases.find((c) => c.abi === 'i386' && c.syscall === 'getpid');
      expect(getpid).toBeDefined();
      expect(commandOutcome(run('full'), fullCases.indexOf(getpid as Case))).toEqual({
        kind: 'killed',
        signal: SIGSYS,
      });
    } else {
      // The CPU refuses int $0x80 before seccomp runs: nothing to see here;
      // the BPF interpreter tests carry the i386 ABI instead.
      matrixNotes.push(
        'int $0x80 faults before any filter on this kernel: the interpreter tests carry i386.',
      );
      for (const c of i386Cases) {
        expect(commandOutcome(run('full'), fullCases.indexOf(c)).kind).toBe('fault');
      }
    }
  });
});

// ---- the groups -----------------------------------------------------------------

const caseName = (c: Case): string =>
  `${c.group} ${c.syscall} ${c.abi}${c.variant === 'exception' ? ` (exception: ${c.command.join(' ')})` : ''} -> ${expectedText(c.expected)}`;

describe('FULL policy: every denied call of default, obsolete, elevateprivileges, resourcecontrol, network', () => {
  test('the rules are the contract, not only whatever filters/ says', () => {
    const action = (s: string) => fullRules.find((r) => r.syscall === s)?.action;
    expect(action('reboot')).toEqual({ type: 'kill-process' });
    expect(action('mount')).toEqual({ type: 'kill-process' });
    expect(action('umount2')).toEqual({ type: 'kill-process' });
    expect(action('init_module')).toEqual({ type: 'kill-process' });
    expect(action('_sysctl')).toEqual({ type: 'kill-process' });
    expect(action('setuid')).toEqual({ type: 'kill-process' });
    expect(action('setpriority')).toMatchObject({ type: 'errno', errnoName: 'EPERM' });
    expect(action('socket')).toMatchObject({ type: 'errno', errnoName: 'EAFNOSUPPORT' });
    expect(action('io_uring_setup')).toMatchObject({ type: 'errno', errnoName: 'ENOSYS' });
    expect(action('fsopen')).toMatchObject({ type: 'errno', errnoName: 'ENOSYS' });
    for (const allowed of ['bpf', 'userfaultfd', 'memfd_create', 'seccomp', 'prctl', 'chroot']) {
      expect(action(allowed)).toBeUndefined();
    }
    // Allowed as QEMU calls it: its own counters.
    const unless = (s: string) => fullRules.find((r) => r.syscall === s)?.unless;
    expect(unless('perf_event_open')).toMatchObject({ arg: 1, op: 'eq', values: [0n] });
    // ioctl: every request but TIOCSTI/TIOCLINUX (default) and TUNSETIFF (network=deny).
    const ioctl = fullRules.filter((r) => r.syscall === 'ioctl');
    expect(ioctl.map((r) => [r.group, r.unless?.op, r.unless?.values])).toEqual([
      ['default', 'notin', [0x5412n, 0x541cn, 0x5472n, 0x5483n]],
      ['network', 'notin', [0x400454can, 0x800454can]],
    ]);
  });

  test('the probe launched under the filter, with no-new-privs (elevateprivileges=deny)', () => {
    const r = run('full');
    expect(r.lines).toHaveLength(fullCases.length);
    expect([r.exitCode, r.signal]).toEqual([0, null]);
  });

  test.each(fullCases.map((c) => [caseName(c), c] as const))('%s', (_name, c) => checkCase(c));

  test('errno rules (spawn=deny included) give an errno the kernel would not have given anyway', () => {
    // Otherwise the row proves nothing: the kernel may have run the call.
    const same = [...fullCases, ...spawnNatural].filter((c) => {
      if (c.expected.kind !== 'errno') return false;
      const n = outcomeAt(...where(c).natural);
      return n?.kind === 'errno' && n.errname === c.expected.errname;
    });
    expect(same.map((c) => `${c.syscall} ${c.abi}`)).toEqual([]);
  });
});

describe('spawn=deny', () => {
  test('the rules are the contract', () => {
    const action = (s: string) => spawnRules.find((r) => r.syscall === s)?.action;
    expect(action('fork')).toMatchObject({ type: 'errno', errnoName: 'EPERM' });
    expect(action('vfork')).toMatchObject({ type: 'errno', errnoName: 'EPERM' });
    expect(action('clone')).toMatchObject({ type: 'errno', errnoName: 'EPERM' });
    expect(action('clone3')).toMatchObject({ type: 'errno', errnoName: 'ENOSYS' });
    expect(action('execve')).toEqual({ type: 'notify' });
    expect(action('execveat')).toEqual({ type: 'notify' });
    // A filter without its own listener (QEMU's -sandbox) still stacks.
    expect(action('seccomp')).toMatchObject({ type: 'errno', errnoName: 'EPERM' });
    expect(spawnRules.find((r) => r.syscall === 'seccomp')?.unless).toMatchObject({
      arg: 1,
      op: 'masked',
      noneOf: 8n,
    });
  });

  test('the first exec (ours) kept the PID; the probe survives every denied call', () => {
    const r = run('spawn');
    const first = r.lines[0] as { op: string; pid?: number };
    const last = r.lines[r.lines.length - 1] as { op: string; pid?: number };
    expect(first).toMatchObject({ op: 'pid', pid: r.pid });
    expect(last).toMatchObject({ op: 'pid', pid: r.pid });
    expect(r.lines).toHaveLength(spawnNative.length + 2);
    expect([r.exitCode, r.signal]).toEqual([0, null]);
  });

  test("threads still start (pthread_create: clone with a thread's flags)", () => {
    const i = spawnNative.findIndex((c) => c.command[0] === 'clone-thread');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(run('spawn').lines[i + 1]).toMatchObject({ op: 'clone-thread', ret: 0, ran: true });
  });

  test('glibc fork() (clone with SIGCHLD) is refused with EPERM', () => {
    // Not a rule of its own: the clone rule's argument check decides it.
    const r = run('spawn');
    const i = spawnNative.findIndex((c) => c.syscall === 'clone' && c.variant === 'denied');
    expect(commandOutcome(r, i + 1)).toEqual({ kind: 'errno', errname: 'EPERM' });
  });

  test.each([...spawnNative, ...spawnForeign].map((c) => [caseName(c), c] as const))(
    '%s',
    (_name, c) => checkCase(c),
  );
});

describe('the default policy (no -sandbox) leaves what QEMU needs alone', () => {
  test.each(defaultCommands.map((c, i) => [c.join(' '), i] as const))(
    '%s: as without a filter',
    (_n, i) => {
      const got = commandOutcome(run('default'), i);
      const natural = commandOutcome(run('default-natural'), i);
      expect(got.kind).not.toBe('error');
      expect(got.kind).not.toBe('killed');
      if (!sameOutcome(got, natural)) {
        throw new Error(`launched: ${outcomeText(got)}, unfiltered: ${outcomeText(natural)}`);
      }
    },
  );

  test('exec is allowed (spawn=allow) and keeps the PID', () => {
    const r = run('default');
    const last = r.lines[r.lines.length - 1] as { op: string; pid?: number };
    expect(last).toEqual({ op: 'execed', pid: r.pid });
  });
});

describe('a kill-class call in the probe itself, and the foreign ABIs under every policy', () => {
  test('the launched process (same pid) dies with SIGSYS at reboot()', () => {
    const r = run('kill-self');
    expect(r.lines).toEqual([expect.objectContaining({ op: 'pid', pid: r.pid })]);
    expect(r.signal).toBe('SIGSYS');
  });

  test.each(
    FOREIGN_POLICIES.flatMap((p, i) =>
      FOREIGN_COMMANDS.map((c, j) => [`${p ?? '(no -sandbox)'}: ${c.join(' ')}`, i, j] as const),
    ),
  )('%s -> SIGSYS', (_n, i, j) => {
    const got = commandOutcome(run(`foreign-${i}`), j);
    if (FOREIGN_COMMANDS[j][0] === 'int80' && !int80Available()) {
      expect(got.kind).toBe('fault');
      return;
    }
    expect(got).toEqual({ kind: 'killed', signal: SIGSYS });
  });
});

describe('action= variants for the kill-class rules and the foreign ABIs', () => {
  const expected: Record<(typeof ACTIONS)[number], (natural: Outcome) => Outcome> = {
    errno: () => ({ kind: 'errno', errname: 'EPERM' }),
    trap: () => ({ kind: 'trapped', nr: 0 }), // SIGSYS caught by the probe: it lives
    // log allows (and logs): the kernel's own answer (ENOSYS for x32 here).
    log: (natural) => natural,
  };
  test.each(
    ACTIONS.flatMap((a) =>
      actionCommands.map((c, i) => [`action=${a}: ${c.join(' ')}`, a, i] as const),
    ),
  )('%s', (_n, a, i) => {
    const got = commandOutcome(run(`action-${a}`), i);
    const natural = commandOutcome(run('action-natural'), i);
    if (actionCommands[i][0] === 'int80' && !int80Available()) {
      expect(got.kind).toBe('fault');
      return;
    }
    const want = expected[a](natural);
    if (!sameOutcome(got, want))
      throw new Error(`got ${outcomeText(got)}, want ${outcomeText(want)}`);
  });

  test('action=log leaves an audit record (SECCOMP_RET_LOG) for the logged call', async () => {
    // Without auditd the kernel prints audit records with printk_ratelimit()
    // (10 per 5 s, machine-wide), and every SIGSYS kill is audited too: the
    // log run goes first, and if its record was rate-limited away, one more
    // try after the limit's interval.
    const nr = X86_64.syscalls.get('reboot');
    const find = (pid: number) =>
      execFileSync('dmesg', { encoding: 'utf8' })
        .split('\n')
        .find(
          (l) =>
            l.includes('type=1326') && l.includes(` pid=${pid} `) && l.includes(` syscall=${nr} `),
        );
    const pidOf = (r: ProbeRun) =>
      (lineResult(r.lines[0]) as { pid: number } | undefined)?.pid ?? -1;
    let record = find(pidOf(run('action-log')));
    if (!record) {
      await new Promise((res) => setTimeout(res, 6000));
      const again = await launch('on,action=log', [actionCommands[0]], false);
      record = find(pidOf(again));
    }
    expect(record).toMatch(/code=0x7ffc0000/);
  });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (setupError) return;
  const lines: string[] = [
    '# Launcher groups matrix (generated by test/kernel/launcher-groups.test.ts)',
    '',
    `Policies: FULL = \`${FULL}\` (probe forks per call), SPAWN = \`${SPAWN}\`.`,
    'Cells: outcome under the filter launched by `launcher/qemu-sandboxed`; "unfiltered" is the probe run directly.',
    '',
    ...matrixNotes.map((n) => `- ${n}`),
    '',
    '| group | syscall | variant | expected | x86_64 | x32 | i386 | unfiltered x86_64 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const all = [...fullCases, ...spawnNative, ...spawnForeign];
  // One row per rule (its ABIs side by side), and one per exception case.
  const key = (c: Case) =>
    `${c.group}|${c.syscall}|${c.variant}${c.variant === 'exception' ? `|${c.command.join(' ')}` : ''}`;
  const rows = new Map<string, Map<AbiCol, Case>>();
  for (const c of all) {
    const row = rows.get(key(c)) ?? new Map<AbiCol, Case>();
    row.set(c.abi, c);
    rows.set(key(c), row);
  }
  let mismatches = 0;
  const cell = (c: Case | undefined, filtered: boolean): string => {
    if (!c) return 'n/a';
    try {
      const w = where(c);
      const o = filtered ? outcomeAt(...w.filtered) : outcomeAt(...w.natural);
      if (!o) return '-';
      let mark = '';
      if (filtered) {
        try {
          checkCase(c);
        } catch {
          mark = ' **(unexpected)**';
          mismatches++;
        }
      }
      return `${outcomeCell(o)}${mark}`;
    } catch (e) {
      return `(${(e as Error).message.split('\n')[0]})`;
    }
  };
  for (const row of rows.values()) {
    const any = row.get('x86_64') ?? [...row.values()][0];
    lines.push(
      `| ${any.group} | ${any.syscall} | ${any.variant === 'exception' ? `exception: \`${any.command.join(' ')}\`` : any.variant} | ${expectedText(any.expected)} | ${cell(row.get('x86_64'), true)} | ${cell(row.get('x32'), true)} | ${cell(row.get('i386'), true)} | ${cell(row.get('x86_64'), false)} |`,
    );
  }
  lines.push(
    '',
    `${all.length} calls under the filter (x32 and i386 cells expect SIGSYS); ${mismatches} not as expected.`,
  );
  lines.push('', '## x32 and i386 under every policy (action=kill)', '');
  lines.push(
    `| policy | ${FOREIGN_COMMANDS.map((c) => `\`${c.join(' ')}\``).join(' | ')} |`,
    `|---|${FOREIGN_COMMANDS.map(() => '---|').join('')}`,
  );
  FOREIGN_POLICIES.forEach((p, i) => {
    const cells = FOREIGN_COMMANDS.map((_c, j) => {
      try {
        return outcomeCell(commandOutcome(run(`foreign-${i}`), j));
      } catch {
        return '-';
      }
    });
    lines.push(`| ${p ?? '(no -sandbox)'} | ${cells.join(' | ')} |`);
  });
  lines.push('', '## action= variants (kill-class call `reboot`, `sethostname`; foreign ABIs)', '');
  lines.push(
    '| command | action=errno | action=trap | action=log | unfiltered |',
    '|---|---|---|---|---|',
  );
  actionCommands.forEach((c, i) => {
    const o = (n: string) => {
      try {
        return outcomeCell(commandOutcome(run(n), i));
      } catch {
        return '-';
      }
    };
    lines.push(
      `| \`${c.join(' ')}\` | ${o('action-errno')} | ${o('action-trap')} | ${o('action-log')} | ${o('action-natural')} |`,
    );
  });
  lines.push('', '## Default policy (no -sandbox): calls QEMU needs', '');
  lines.push('| command | launched | unfiltered |', '|---|---|---|');
  defaultCommands.forEach((c, i) => {
    const o = (n: string) => {
      try {
        return outcomeCell(commandOutcome(run(n), i));
      } catch {
        return '-';
      }
    };
    lines.push(`| \`${c.join(' ')}\` | ${o('default')} | ${o('default-natural')} |`);
  });
  writeFileSync(join(REPO_ROOT, '.cache', 'launcher-matrix.md'), `${lines.join('\n')}\n`);
});
