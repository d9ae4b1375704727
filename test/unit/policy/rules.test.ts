/** activeRules and friends: exact expectations per policy and ABI. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HOST_ABI_NAMES, getAbi } from '../../../src/arch';
import type { Abi } from '../../../src/arch/types';
import {
  DEFAULT_POLICY,
  DISABLED_POLICY,
  GROUP_NAMES,
  GROUP_SWITCHES,
  activeRules,
  enabledGroups,
  defaultFiltersDir,
  groupOf,
  killClassAction,
  loadGroups,
  packageRoot,
  parsePolicy,
  policyChangeToAllow,
  resolveCondition,
  ruleOf,
} from '../../../src/policy';
import type { ActiveRule, ArgCondition, SandboxPolicy } from '../../../src/policy';

const x86 = getAbi('x86_64');
const FULL = parsePolicy('on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
const EVERYTHING = parsePolicy(
  'on,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny',
);

function rule(rules: readonly ActiveRule[], syscall: string): ActiveRule {
  const r = rules.find((x) => x.syscall === syscall);
  if (!r) throw new Error(`no active rule for ${syscall}`);
  return r;
}

/** A plain reference model of ArgCondition, written from its doc comment. */
function holds(c: ArgCondition, args: readonly bigint[]): boolean {
  const mask = c.width === 32 ? 0xffffffffn : 0xffffffffffffffffn;
  const a = args[c.arg] & mask;
  switch (c.op) {
    case 'eq':
      return a === (c.values![0] & mask);
    case 'in':
      return c.values!.some((v) => (v & mask) === a);
    case 'notin':
      return !c.values!.some((v) => (v & mask) === a);
    case 'range':
      return a >= c.min! && a <= c.max!;
    case 'masked': {
      const x = a & ~(c.ignore ?? 0n);
      return (x & (c.allOf ?? 0n)) === (c.allOf ?? 0n) && (x & (c.noneOf ?? 0n)) === 0n;
    }
  }
}

/** The verdict for one call: the first applicable rule's action type, or allow. */
function verdict(rules: readonly ActiveRule[], syscall: string, args: bigint[] = []): string {
  const padded = [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
  for (const r of rules.filter((x) => x.syscall === syscall)) {
    if (!r.unless || !holds(r.unless, padded)) {
      return r.action.type === 'errno' ? `errno:${r.action.errnoName}` : r.action.type;
    }
  }
  return 'allow';
}

describe('which groups a policy enables', () => {
  test.each<[string, string[]]>([
    ['off', []],
    ['on', ['default', 'obsolete']],
    ['on,obsolete=allow', ['default']],
    ['on,elevateprivileges=children', ['default', 'obsolete', 'elevateprivileges']],
    ['on,elevateprivileges=deny,obsolete=allow', ['default', 'elevateprivileges']],
    ['on,spawn=deny', ['default', 'obsolete', 'spawn']],
    ['on,resourcecontrol=deny', ['default', 'obsolete', 'resourcecontrol']],
    ['on,network=deny', ['default', 'obsolete', 'network']],
    ['on,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny', [...GROUP_NAMES]],
  ])('%s -> %j', (s, groups) => {
    expect(enabledGroups(parsePolicy(s))).toEqual(groups);
  });

  test('the key that switches each group, and the change that would allow it', () => {
    expect(GROUP_NAMES.map((g) => policyChangeToAllow(g))).toEqual([
      'off',
      'obsolete=allow',
      'elevateprivileges=allow',
      'spawn=allow',
      'resourcecontrol=allow',
      'network=allow',
    ]);
    // Applying the suggestion really turns the group off.
    for (const g of GROUP_NAMES) {
      const sw = GROUP_SWITCHES[g];
      const before = enabledGroups(EVERYTHING);
      const after = enabledGroups(
        parsePolicy(
          GROUP_SWITCHES[g].suggestion,
          'on,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny',
        ),
      );
      expect(before).toContain(g);
      expect(after).not.toContain(g);
      expect(sw.onValues.length).toBeGreaterThan(0);
    }
  });
});

describe('activeRules', () => {
  test('a disabled policy has no rules', () => {
    expect(activeRules(DISABLED_POLICY, x86)).toEqual([]);
  });

  test('"on" on x86_64: default then obsolete, absent names skipped, numbers from the table', () => {
    const rules = activeRules(DEFAULT_POLICY, x86);
    const groups = [...new Set(rules.map((r) => r.group))];
    expect(groups).toEqual(['default', 'obsolete']);
    expect(rules.map((r) => r.syscall)).not.toContain('umount');
    expect(rules.map((r) => r.syscall)).toContain('umount2');
    for (const r of rules) expect(r.nr).toBe(x86.syscalls.get(r.syscall));
    expect(rule(rules, 'reboot')).toEqual({
      group: 'default',
      syscall: 'reboot',
      nr: 169,
      reason: 'Reboots, halts or powers off the host; a guest reset is emulated inside QEMU.',
      action: { type: 'kill-process' },
    });
    // default: 71 rules, 18 absent on x86_64; obsolete: 11 rules, 4 absent.
    expect(rules.length).toBe(71 - 18 + (11 - 4));
  });

  test.each<[SandboxPolicy['action'], unknown]>([
    ['kill', { type: 'kill-process' }],
    ['trap', { type: 'trap' }],
    ['errno', { type: 'errno', errno: 1, errnoName: 'EPERM' }],
    ['log', { type: 'log' }],
  ])('action=%s maps kill-class rules to %j and leaves the others alone', (action, expected) => {
    const rules = activeRules({ ...FULL, action }, x86);
    expect(rule(rules, 'reboot').action).toEqual(expected);
    expect(rule(rules, 'setuid').action).toEqual(expected);
    expect(rule(rules, 'ustat').action).toEqual(expected);
    expect(rule(rules, 'fork').action).toEqual({ type: 'errno', errno: 1, errnoName: 'EPERM' });
    expect(rule(rules, 'execve').action).toEqual({ type: 'notify' });
    expect(rule(rules, 'fsopen').action).toEqual({ type: 'errno', errno: 38, errnoName: 'ENOSYS' });
  });

  test('killClassAction resolves EPERM per ABI', () => {
    expect(killClassAction({ ...DEFAULT_POLICY, action: 'errno' }, getAbi('mips64el'))).toEqual({
      type: 'errno',
      errno: 1,
      errnoName: 'EPERM',
    });
  });

  test('clone: the exact thread-flags condition, 32-bit, flags argument per ABI', () => {
    const c = rule(activeRules(FULL, x86), 'clone');
    expect(c.action).toEqual({ type: 'errno', errno: 1, errnoName: 'EPERM' });
    expect(c.unless).toEqual({
      arg: 0,
      width: 32,
      op: 'masked',
      allOf: 0x003d0f00n, // VM FS FILES SIGHAND THREAD SYSVSEM SETTLS PARENT_SETTID CHILD_CLEARTID
      noneOf: 0xfe82f000n, // PIDFD PTRACE VFORK PARENT NEWNS UNTRACED NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET IO
      ignore: 0x00400000n, // CLONE_DETACHED
    });
    expect(rule(activeRules(FULL, getAbi('s390x')), 'clone').unless?.arg).toBe(1);
    for (const a of HOST_ABI_NAMES.filter((n) => n !== 's390x')) {
      expect([a, rule(activeRules(FULL, getAbi(a)), 'clone').unless?.arg]).toEqual([a, 0]);
    }
  });

  test('clone verdicts: threads pass, processes and namespaces do not', () => {
    const rules = activeRules(FULL, x86);
    const GLIBC_THREAD = 0x003d0f00n; // pthread_create's flags
    expect(verdict(rules, 'clone', [GLIBC_THREAD])).toBe('allow');
    expect(verdict(rules, 'clone', [GLIBC_THREAD | 0x00400000n])).toBe('allow'); // musl adds CLONE_DETACHED
    expect(verdict(rules, 'clone', [GLIBC_THREAD | 0xffffffff00000000n])).toBe('allow'); // upper half ignored
    expect(verdict(rules, 'clone', [0x11n])).toBe('errno:EPERM'); // fork(): SIGCHLD
    expect(verdict(rules, 'clone', [0x4111n])).toBe('errno:EPERM'); // posix_spawn: VM|VFORK|SIGCHLD
    expect(verdict(rules, 'clone', [GLIBC_THREAD | 0x10000000n])).toBe('errno:EPERM'); // + NEWUSER
    expect(verdict(rules, 'clone', [GLIBC_THREAD & ~0x80000n])).toBe('errno:EPERM'); // no SETTLS
    expect(verdict(rules, 'clone', [0n])).toBe('errno:EPERM');
    expect(verdict(rules, 'clone3')).toBe('errno:ENOSYS');
  });

  test('sched_setscheduler: EPERM unless the policy (arg1, 32-bit) is SCHED_IDLE', () => {
    const rules = activeRules(FULL, x86);
    expect(rule(rules, 'sched_setscheduler').unless).toEqual({
      arg: 1,
      width: 32,
      op: 'eq',
      values: [5n],
    });
    expect(verdict(rules, 'sched_setscheduler', [0n, 5n])).toBe('allow');
    expect(verdict(rules, 'sched_setscheduler', [0n, 0x1_00000005n])).toBe('allow'); // int: low half
    expect(verdict(rules, 'sched_setscheduler', [0n, 1n])).toBe('errno:EPERM'); // SCHED_FIFO
    expect(verdict(rules, 'sched_setscheduler', [0n, 0x40000005n])).toBe('errno:EPERM'); // IDLE|RESET_ON_FORK
    expect(verdict(rules, 'sched_setaffinity')).toBe('errno:EPERM');
  });

  test('network: socket families and io_uring', () => {
    const rules = activeRules(EVERYTHING, x86);
    expect(verdict(rules, 'socket', [1n])).toBe('allow'); // AF_UNIX
    expect(verdict(rules, 'socket', [16n])).toBe('allow'); // AF_NETLINK
    expect(verdict(rules, 'socket', [2n])).toBe('errno:EAFNOSUPPORT'); // AF_INET
    expect(verdict(rules, 'socket', [10n])).toBe('errno:EAFNOSUPPORT'); // AF_INET6
    expect(verdict(rules, 'socket', [17n])).toBe('errno:EAFNOSUPPORT'); // AF_PACKET
    expect(verdict(rules, 'socket', [0x1_00000002n])).toBe('errno:EAFNOSUPPORT');
    expect(verdict(rules, 'io_uring_setup')).toBe('errno:ENOSYS');
    expect(verdict(rules, 'io_uring_enter')).toBe('allow');
    // Not on by default.
    expect(verdict(activeRules(DEFAULT_POLICY, x86), 'socket', [2n])).toBe('allow');
  });

  test("errno values are the ABI's: mips64el differs from x86_64", () => {
    const mips = getAbi('mips64el');
    const onX86 = activeRules(EVERYTHING, x86);
    const onMips = activeRules(EVERYTHING, mips);
    expect(rule(onX86, 'clone3').action).toEqual({ type: 'errno', errno: 38, errnoName: 'ENOSYS' });
    expect(rule(onMips, 'clone3').action).toEqual({
      type: 'errno',
      errno: 89,
      errnoName: 'ENOSYS',
    });
    expect(rule(onX86, 'socket').action).toEqual({
      type: 'errno',
      errno: 97,
      errnoName: 'EAFNOSUPPORT',
    });
    expect(rule(onMips, 'socket').action).toEqual({
      type: 'errno',
      errno: 124,
      errnoName: 'EAFNOSUPPORT',
    });
    expect(rule(onMips, 'fork').action).toEqual({ type: 'errno', errno: 1, errnoName: 'EPERM' });
    expect(rule(onMips, 'clone').nr).toBe(5055);
    expect(rule(onX86, 'clone').nr).toBe(56);
  });

  test('ABI-specific names: present where the ABI has them, skipped elsewhere', () => {
    const names = (abi: Abi): string[] => activeRules(EVERYTHING, abi).map((r) => r.syscall);
    expect(names(getAbi('arm'))).toEqual(
      expect.arrayContaining(['setuid32', 'pciconfig_write', 'clock_settime64']),
    );
    expect(names(getAbi('aarch64'))).not.toContain('fork'); // no fork on the generic ABI
    expect(names(getAbi('aarch64'))).toContain('clone');
    expect(names(getAbi('ppc64le'))).toEqual(expect.arrayContaining(['umount', 'rtas', 'stime']));
    expect(names(x86)).not.toContain('setuid32');
    for (const abi of HOST_ABI_NAMES.map(getAbi)) {
      for (const r of activeRules(EVERYTHING, abi)) expect(abi.syscalls.get(r.syscall)).toBe(r.nr);
    }
  });

  test('rule order: group order, then file order; one rule per syscall but ioctl', () => {
    const rules = activeRules(EVERYTHING, x86);
    const order = rules.map((r) => GROUP_NAMES.indexOf(r.group));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // ioctl: default (TIOCSTI, TIOCLINUX) and network (TUNSETIFF), both conditional.
    expect(new Set(rules.map((r) => r.syscall)).size).toBe(rules.length - 1);
    expect(rules.filter((r) => r.syscall === 'ioctl').map((r) => r.group)).toEqual([
      'default',
      'network',
    ]);
  });

  test('32-bit ABIs compare 32 bits whatever the file says', () => {
    const c = { arg: 'cloneFlags' as const, width: 64 as const, op: 'eq' as const, values: [7n] };
    expect(resolveCondition(c, getAbi('arm'))).toEqual({
      arg: 0,
      width: 32,
      op: 'eq',
      values: [7n],
    });
    expect(resolveCondition(c, x86)).toEqual({ arg: 0, width: 64, op: 'eq', values: [7n] });
    expect(resolveCondition(c, getAbi('s390x')).arg).toBe(1);
  });
});

describe('lookups for the CLI', () => {
  test('groupOf and ruleOf', () => {
    expect(groupOf('execve')).toBe('spawn');
    expect(groupOf('umount2')).toBe('default');
    expect(groupOf('sysfs')).toBe('obsolete');
    expect(groupOf('socket')).toBe('network');
    expect(groupOf('read')).toBeUndefined();
    expect(ruleOf('sched_setscheduler')?.group).toBe('resourcecontrol');
    expect(ruleOf('bpf')).toBeUndefined();
  });
});

describe('finding filters/', () => {
  const root = path.resolve(__dirname, '../../..');

  test('from src/policy and from the built dist/src/policy alike', () => {
    expect(packageRoot()).toBe(root);
    expect(packageRoot(path.join(root, 'dist', 'src', 'policy'))).toBe(root);
    expect(defaultFiltersDir()).toBe(path.join(root, 'filters'));
    expect(() => packageRoot('/')).toThrow('no package.json above /');
  });

  test('another directory can be loaded, and is what activeRules and groupOf then read', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-rules-'));
    try {
      for (const f of fs.readdirSync(defaultFiltersDir())) {
        fs.copyFileSync(path.join(defaultFiltersDir(), f), path.join(tmp, f));
      }
      // Move execve out of spawn into network in the copy.
      const spawn = JSON.parse(fs.readFileSync(path.join(tmp, 'spawn.json'), 'utf8'));
      const network = JSON.parse(fs.readFileSync(path.join(tmp, 'network.json'), 'utf8'));
      const i = spawn.rules.findIndex((r: { syscall: string }) => r.syscall === 'execve');
      network.rules.push(spawn.rules.splice(i, 1)[0]);
      fs.writeFileSync(path.join(tmp, 'spawn.json'), JSON.stringify(spawn));
      fs.writeFileSync(path.join(tmp, 'network.json'), JSON.stringify(network));
      expect(loadGroups(tmp)).not.toBe(loadGroups());
      expect(groupOf('execve', tmp)).toBe('network');
      expect(groupOf('execve')).toBe('spawn');
      const p = parsePolicy('on,network=deny');
      expect(activeRules(p, x86, tmp).map((r) => r.syscall)).toContain('execve');
      expect(activeRules(p, x86).map((r) => r.syscall)).not.toContain('execve');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
