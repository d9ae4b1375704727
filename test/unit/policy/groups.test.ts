/** filters/*.json: schema, validator, contents against QEMU's lists and the arch tables. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HOST_ABI_NAMES, getAbi } from '../../../src/arch';
import {
  DEFAULT_POLICY,
  GROUP_NAMES,
  GroupValidationError,
  activeRules,
  conditionHolds,
  defaultFiltersDir,
  loadGroups,
  parsePolicy,
  readGroupsDir,
  validateGroupFile,
  validateGroupSet,
} from '../../../src/policy';
import type { ActiveRule, GroupDefinition, GroupName } from '../../../src/policy';
import { validateSchema } from './json-schema-lite';

const dir = defaultFiltersDir();
const schema = JSON.parse(fs.readFileSync(path.join(dir, 'schema.json'), 'utf8')) as Record<
  string,
  unknown
>;
const raw = (g: GroupName): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(dir, `${g}.json`), 'utf8')) as Record<string, unknown>;
const groups = loadGroups();
const byName = (n: GroupName): GroupDefinition => groups.find((g) => g.name === n)!;

/** A deep copy of a group file with `edit` applied, for negative cases. */
function mutated(
  g: GroupName,
  edit: (d: Record<string, unknown>) => void,
): Record<string, unknown> {
  const d = JSON.parse(JSON.stringify(raw(g))) as Record<string, unknown>;
  edit(d);
  return d;
}
const rulesOf = (d: Record<string, unknown>): Array<Record<string, unknown>> =>
  d.rules as Array<Record<string, unknown>>;

function validationError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GroupValidationError);
    return (e as Error).message;
  }
  throw new Error('expected a GroupValidationError');
}

describe('the files', () => {
  test('filters/ is found from the package root and holds one file per group', () => {
    expect(dir).toBe(path.resolve(__dirname, '../../../filters'));
    expect(groups.map((g) => g.name)).toEqual(GROUP_NAMES);
    expect(fs.readdirSync(dir).sort()).toEqual(
      [...GROUP_NAMES.map((g) => `${g}.json`), 'schema.json'].sort(),
    );
  });

  test.each(GROUP_NAMES)('%s.json validates against schema.json', (g) => {
    expect(validateSchema(schema, raw(g))).toEqual([]);
  });

  test('loadGroups is cached per directory', () => {
    expect(loadGroups()).toBe(groups);
    expect(loadGroups(dir)).toBe(groups);
  });

  test('every rule has a one-line reason; every file a description', () => {
    for (const g of groups) {
      expect(g.description.length).toBeGreaterThan(20);
      for (const r of [...g.rules, ...g.allowed]) {
        expect(r.reason.trim()).toBe(r.reason);
        expect(r.reason).not.toMatch(/[\r\n]/);
        expect(r.reason.length).toBeGreaterThan(10);
      }
    }
  });

  test('a syscall is in two groups only when every rule for it has a condition (ioctl)', () => {
    const seen = new Map<string, GroupName[]>();
    for (const g of groups) {
      for (const r of g.rules) seen.set(r.syscall, [...(seen.get(r.syscall) ?? []), g.name]);
    }
    const shared = [...seen].filter(([, gs]) => gs.length > 1);
    expect(shared).toEqual([['ioctl', ['default', 'network']]]);
    for (const g of groups) {
      for (const r of g.rules) if (r.syscall === 'ioctl') expect(r.unless).toBeDefined();
    }
    // And the validator refuses an unconditional rule in a second group.
    const copy = groups.map((g) =>
      g.name === 'obsolete'
        ? { ...g, rules: [...g.rules, { ...g.rules[0], syscall: 'ioctl' }] }
        : g,
    );
    expect(() => validateGroupSet(copy)).toThrow('a syscall belongs to one group');
    // ...and a second rule with the condition of the first: one of them would be dead.
    const ioctl = groups
      .find((g) => g.name === 'network')
      ?.rules.find((r) => r.syscall === 'ioctl');
    const twice = groups.map((g) =>
      g.name === 'obsolete' && ioctl ? { ...g, rules: [...g.rules, { ...ioctl }] } : g,
    );
    expect(() => validateGroupSet(twice)).toThrow(
      'network.json: "ioctl" has the same condition as in group "obsolete": one of the two rules could never decide a call',
    );
  });

  test('every name exists on x86_64 or is listed absent there, and the listing is true', () => {
    const x86 = getAbi('x86_64');
    const absent: string[] = [];
    for (const g of groups) {
      for (const r of g.rules) {
        if (!x86.syscalls.has(r.syscall)) {
          expect([r.syscall, r.absentOn]).toEqual([r.syscall, expect.arrayContaining(['x86_64'])]);
          absent.push(r.syscall);
        }
        for (const abi of r.absentOn) expect(getAbi(abi).syscalls.has(r.syscall)).toBe(false);
      }
    }
    // The absent-by-design list, pinned so a table change is noticed.
    expect(absent.sort()).toEqual(
      [
        'umount',
        'break',
        'ftime',
        'gtty',
        'lock',
        'mpx',
        'prof',
        'profil',
        'stty',
        'ulimit',
        'clock_settime64',
        'stime',
        'clock_adjtime64',
        'idle',
        'pciconfig_read',
        'pciconfig_write',
        'pciconfig_iobase',
        'rtas',
        'readdir',
        'bdflush',
        'sgetmask',
        'ssetmask',
        'setuid32',
        'setgid32',
        'setgroups32',
        'setreuid32',
        'setregid32',
        'setresuid32',
        'setresgid32',
        'setfsuid32',
        'setfsgid32',
      ].sort(),
    );
  });

  test('every named syscall exists on at least one host ABI', () => {
    for (const g of groups) {
      for (const r of [...g.rules, ...g.allowed]) {
        expect([r.syscall, HOST_ABI_NAMES.some((a) => getAbi(a).syscalls.has(r.syscall))]).toEqual([
          r.syscall,
          true,
        ]);
      }
    }
  });
});

describe('contents: QEMU parity (system/qemu-seccomp.c, QEMU 9.x)', () => {
  const qemuRules = (g: GroupName): Array<[string, unknown]> =>
    byName(g)
      .rules.filter((r) => r.origin === 'qemu')
      .map((r) => [r.syscall, r.action]);

  test('default: QEMU list, kill', () => {
    expect(qemuRules('default')).toEqual(
      [
        'reboot',
        'swapon',
        'swapoff',
        'syslog',
        'mount',
        'umount',
        'kexec_load',
        'afs_syscall',
        'break',
        'ftime',
        'getpmsg',
        'gtty',
        'lock',
        'mpx',
        'prof',
        'profil',
        'putpmsg',
        'security',
        'stty',
        'tuxcall',
        'ulimit',
        'vserver',
      ].map((s) => [s, 'kill']),
    );
  });

  test('obsolete: QEMU list, kill, and nothing else', () => {
    expect(byName('obsolete').rules.map((r) => [r.syscall, r.action, r.origin])).toEqual(
      [
        'readdir',
        '_sysctl',
        'bdflush',
        'create_module',
        'get_kernel_syms',
        'query_module',
        'sgetmask',
        'ssetmask',
        'sysfs',
        'uselib',
        'ustat',
      ].map((s) => [s, 'kill', 'qemu']),
    );
  });

  test('elevateprivileges: QEMU list, kill; plus the *32 forms glibc calls on arm/i386', () => {
    const ids = [
      'setuid',
      'setgid',
      'setpgid',
      'setsid',
      'setreuid',
      'setregid',
      'setresuid',
      'setresgid',
      'setfsuid',
      'setfsgid',
    ];
    expect(qemuRules('elevateprivileges')).toEqual(ids.map((s) => [s, 'kill']));
    const ext = byName('elevateprivileges').rules.filter((r) => r.origin === 'extension');
    // Beyond QEMU: the *32 forms, and setgroups (a root QEMU could join any group).
    expect(ext.map((r) => r.syscall)).toEqual([
      ...ids.filter((s) => !['setpgid', 'setsid'].includes(s)).map((s) => `${s}32`),
      'setgroups',
      'setgroups32',
    ]);
    expect(ext.every((r) => r.action === 'kill')).toBe(true);
    // Each *32 form exists exactly on the 32-bit ABIs with 16-bit legacy IDs.
    for (const r of ext.filter((x) => x.syscall.endsWith('32'))) {
      expect(
        ['i386', 'arm'].every((a) => getAbi(a as 'i386' | 'arm').syscalls.has(r.syscall)),
      ).toBe(true);
    }
  });

  test('spawn: EPERM for fork/vfork/clone/setns/unshare, ENOSYS for clone3, notify for exec', () => {
    expect(byName('spawn').rules.map((r) => [r.syscall, r.action, r.origin])).toEqual([
      ['fork', { errno: 'EPERM' }, 'qemu'],
      ['vfork', { errno: 'EPERM' }, 'qemu'],
      ['execve', 'notify', 'qemu'],
      ['execveat', 'notify', 'qemu'],
      ['clone', { errno: 'EPERM' }, 'qemu'],
      ['clone3', { errno: 'ENOSYS' }, 'qemu'],
      ['setns', { errno: 'EPERM' }, 'qemu'],
      ['unshare', { errno: 'EPERM' }, 'qemu'],
      ['seccomp', { errno: 'EPERM' }, 'extension'],
    ]);
    // Only a filter with its own notification listener is refused.
    expect(byName('spawn').rules.find((r) => r.syscall === 'seccomp')?.unless).toEqual({
      arg: 1,
      width: 32,
      op: 'masked',
      noneOf: 8n,
    });
  });

  test('resourcecontrol: EPERM, sched_setscheduler unless SCHED_IDLE', () => {
    expect(byName('resourcecontrol').rules.map((r) => [r.syscall, r.action, r.unless])).toEqual([
      ['setpriority', { errno: 'EPERM' }, undefined],
      ['sched_setparam', { errno: 'EPERM' }, undefined],
      ['sched_setscheduler', { errno: 'EPERM' }, { arg: 1, width: 32, op: 'eq', values: [5n] }],
      ['sched_setaffinity', { errno: 'EPERM' }, undefined],
      ['sched_setattr', { errno: 'EPERM' }, undefined],
      ['ioprio_set', { errno: 'EPERM' }, undefined],
    ]);
  });

  test('network (extension): socket unless AF_UNIX/AF_NETLINK, io_uring_setup ENOSYS', () => {
    expect(byName('network').rules.map((r) => [r.syscall, r.action, r.unless, r.origin])).toEqual([
      [
        'socket',
        { errno: 'EAFNOSUPPORT' },
        { arg: 0, width: 32, op: 'in', values: [1n, 16n] },
        'extension',
      ],
      ['io_uring_setup', { errno: 'ENOSYS' }, undefined, 'extension'],
      [
        'ioctl',
        { errno: 'EPERM' },
        { arg: 1, width: 32, op: 'notin', values: [0x400454can, 0x800454can] },
        'extension',
      ],
    ]);
    expect(byName('network').allowed.map((a) => a.syscall)).toContain('socketcall');
  });
});

describe('documented differences from QEMU', () => {
  test('each origin "qemu" rule that acts differently says so, and only those', () => {
    const diff = groups.flatMap((g) =>
      g.rules.filter((r) => r.qemuDifference !== undefined).map((r) => r.syscall),
    );
    expect(diff).toEqual(['execve', 'execveat', 'setns', 'unshare', 'sched_setscheduler']);
    for (const g of groups) {
      for (const r of g.rules) if (r.qemuDifference) expect(r.origin).toBe('qemu');
    }
  });
});

describe('contents: beyond QEMU', () => {
  test('the default group completion', () => {
    expect(
      byName('default')
        .rules.filter((r) => r.origin === 'extension')
        .map((r) => [r.syscall, r.action]),
    ).toEqual([
      ['umount2', 'kill'],
      ['pivot_root', 'kill'],
      ...[
        'fsopen',
        'fsconfig',
        'fsmount',
        'fspick',
        'move_mount',
        'open_tree',
        'open_tree_attr',
        'mount_setattr',
      ].map((s) => [s, { errno: 'ENOSYS' }]),
      ['kexec_file_load', 'kill'],
      ['init_module', 'kill'],
      ['finit_module', 'kill'],
      ['delete_module', 'kill'],
      ['settimeofday', 'kill'],
      ['clock_settime', 'kill'],
      ['clock_settime64', 'kill'],
      ['stime', 'kill'],
      ['adjtimex', { errno: 'EPERM' }],
      ['clock_adjtime', { errno: 'EPERM' }],
      ['clock_adjtime64', { errno: 'EPERM' }],
      ['sethostname', 'kill'],
      ['setdomainname', 'kill'],
      ['acct', 'kill'],
      ['quotactl', 'kill'],
      ['quotactl_fd', 'kill'],
      ['nfsservctl', 'kill'],
      ['vhangup', 'kill'],
      ['lookup_dcookie', 'kill'],
      ['epoll_ctl_old', 'kill'],
      ['epoll_wait_old', 'kill'],
      ['idle', 'kill'],
      ['iopl', { errno: 'EPERM' }],
      ['ioperm', { errno: 'EPERM' }],
      ['pciconfig_read', { errno: 'EPERM' }],
      ['pciconfig_write', { errno: 'EPERM' }],
      ['pciconfig_iobase', { errno: 'EPERM' }],
      ['rtas', 'kill'],
      ...['ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', 'process_madvise'].map(
        (s) => [s, { errno: 'EPERM' }],
      ),
      ...['migrate_pages', 'move_pages', 'prlimit64', 'perf_event_open', 'kill', 'ioctl'].map(
        (s) => [s, { errno: 'EPERM' }],
      ),
    ]);
  });

  test('calls on other processes: the caller itself (pid 0) or one process stays allowed', () => {
    const unless = (s: string): unknown =>
      byName('default').rules.find((r) => r.syscall === s)?.unless;
    const self = { arg: 0, width: 32, op: 'eq', values: [0n] };
    for (const s of ['migrate_pages', 'move_pages', 'prlimit64']) expect(unless(s)).toEqual(self);
    expect(unless('perf_event_open')).toEqual({ ...self, arg: 1 });
    expect(unless('kill')).toEqual({ arg: 0, width: 32, op: 'range', min: 1n, max: 0x7fffffffn });
  });

  // Used by QEMU, must stay allowed by default, with the arguments QEMU uses
  // (a conditional rule may take other uses away).
  const TYPICAL_ARGS: Readonly<Record<string, readonly bigint[]>> = {
    perf_event_open: [0x1000n, 0n, 0xffffffffffffffffn, 0xffffffffffffffffn, 0n],
    seccomp: [1n, 1n, 0n], // QEMU's probe: SET_MODE_FILTER, TSYNC, NULL
    ioctl: [3n, 0xae80n, 0n], // KVM_RUN
  };
  const deniedWith = (rules: readonly ActiveRule[], s: string): boolean =>
    rules
      .filter((r) => r.syscall === s)
      .some(
        (r) => !r.unless || !conditionHolds(r.unless, TYPICAL_ARGS[s] ?? [0n, 0n, 0n, 0n, 0n, 0n]),
      );
  const MUST_STAY_ALLOWED = [
    'bpf',
    'userfaultfd',
    'io_uring_setup',
    'io_uring_enter',
    'io_uring_register',
    'mbind',
    'set_mempolicy',
    'chroot',
    'memfd_create',
    'ioctl',
    'perf_event_open',
    'seccomp',
    'prctl',
    'sched_setaffinity',
  ];

  test.each(HOST_ABI_NAMES)(
    'the must-stay-allowed calls are allowed under "on" on %s',
    (abiName) => {
      const abi = getAbi(abiName);
      const rules = activeRules(DEFAULT_POLICY, abi);
      for (const s of MUST_STAY_ALLOWED) expect([s, deniedWith(rules, s)]).toEqual([s, false]);
      // And they exist there, so the check is not vacuous.
      for (const s of MUST_STAY_ALLOWED) expect([s, abi.syscalls.has(s)]).toEqual([s, true]);
    },
  );

  test("under libvirt's string only resourcecontrol takes one of them (sched_setaffinity)", () => {
    const libvirt = parsePolicy(
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    );
    for (const abiName of HOST_ABI_NAMES) {
      const rules = activeRules(libvirt, getAbi(abiName));
      const denied = MUST_STAY_ALLOWED.filter((s) => deniedWith(rules, s));
      expect([abiName, denied]).toEqual([abiName, ['sched_setaffinity']]);
    }
  });

  test('the default group documents each of them as deliberately allowed, or says when in its rule', () => {
    const notes = byName('default').allowed.map((a) => a.syscall);
    const conditional = byName('default')
      .rules.filter((r) => r.unless)
      .map((r) => r.syscall);
    for (const s of MUST_STAY_ALLOWED) expect([...notes, ...conditional]).toContain(s);
  });
});

describe('validator errors', () => {
  const f = (g: GroupName): string => path.join(dir, `${g}.json`);

  test.each<[string, GroupName, (d: Record<string, unknown>) => void, string]>([
    ['missing reason', 'spawn', (d) => delete rulesOf(d)[0].reason, 'rules[0]: missing "reason"'],
    [
      'empty reason',
      'spawn',
      (d) => (rulesOf(d)[0].reason = ' '),
      'rules[0].reason: expected a non-empty string',
    ],
    [
      'two-line reason',
      'spawn',
      (d) => (rulesOf(d)[0].reason = 'a\nb'),
      'rules[0].reason: must be one line',
    ],
    [
      'bad action',
      'spawn',
      (d) => (rulesOf(d)[0].action = 'deny'),
      'rules[0].action: expected "kill", "notify" or {"errno": "ENAME"}',
    ],
    [
      'unknown errno',
      'spawn',
      (d) => (rulesOf(d)[0].action = { errno: 'EWHAT' }),
      'rules[0].action.errno: "EWHAT" is not an errno src/arch knows on x86_64',
    ],
    ['unknown key', 'spawn', (d) => (rulesOf(d)[0].when = 1), 'rules[0]: unknown key "when"'],
    [
      'bad origin',
      'spawn',
      (d) => (rulesOf(d)[0].origin = 'mine'),
      'rules[0].origin: expected "qemu" or "extension"',
    ],
    [
      'bad syscall',
      'spawn',
      (d) => (rulesOf(d)[0].syscall = 'Fork'),
      'rules[0].syscall: expected a syscall name',
    ],
    [
      'duplicate',
      'spawn',
      (d) => (rulesOf(d)[1].syscall = 'fork'),
      'rules[1].syscall: "fork" appears twice',
    ],
    [
      'wrong group name',
      'spawn',
      (d) => (d.group = 'network'),
      'group: "network" does not match the file name spawn.json',
    ],
    ['unknown group', 'spawn', (d) => (d.group = 'extra'), 'group: expected one of default'],
    ['empty rules', 'spawn', (d) => (d.rules = []), 'rules: expected a non-empty array'],
    [
      'bad op',
      'spawn',
      (d) => ((rulesOf(d)[4].unless as Record<string, unknown>).op = 'lt'),
      'rules[4].unless.op: expected one of eq, in, notin, range, masked',
    ],
    [
      'bad arg',
      'spawn',
      (d) => ((rulesOf(d)[4].unless as Record<string, unknown>).arg = 6),
      'rules[4].unless.arg: expected 0..5 or "cloneFlags"',
    ],
    [
      'bad width',
      'spawn',
      (d) => ((rulesOf(d)[4].unless as Record<string, unknown>).width = 16),
      'rules[4].unless.width: expected 32 or 64',
    ],
    [
      'unknown constant',
      'spawn',
      (d) => ((rulesOf(d)[4].unless as Record<string, unknown>).allOf = ['CLONE_WHAT']),
      'rules[4].unless.allOf[0]: unknown constant "CLONE_WHAT"',
    ],
    [
      'overlapping masks',
      'spawn',
      (d) => ((rulesOf(d)[4].unless as Record<string, unknown>).noneOf = ['CLONE_VM']),
      'rules[4].unless: allOf and noneOf share bits',
    ],
    [
      'an ignored bit that is also checked',
      'spawn',
      (d) =>
        ((rulesOf(d)[4].unless as Record<string, unknown>).ignore = ['CLONE_DETACHED', 'CLONE_VM']),
      'rules[4].unless: ignore shares bits with allOf or noneOf',
    ],
    [
      'too wide',
      'resourcecontrol',
      (d) => ((rulesOf(d)[2].unless as Record<string, unknown>).value = '0x100000000'),
      'does not fit in 32 bits',
    ],
    [
      'eq with values',
      'resourcecontrol',
      (d) => ((rulesOf(d)[2].unless as Record<string, unknown>).values = [5]),
      'rules[2].unless: unknown key "values"',
    ],
    [
      'in without values',
      'network',
      (d) => delete (rulesOf(d)[0].unless as Record<string, unknown>).values,
      'rules[0].unless: missing "values"',
    ],
    [
      'bad absentOn',
      'default',
      (d) => (rulesOf(d)[5].absentOn = ['vax']),
      'rules[5].absentOn[0]: unknown ABI "vax"',
    ],
    [
      'difference on an extension',
      'network',
      (d) => (rulesOf(d)[0].qemuDifference = 'QEMU has no such rule.'),
      'rules[0].qemuDifference: only for origin "qemu" rules',
    ],
    [
      'allowed also a rule',
      'network',
      (d) => ((d.allowed as Array<Record<string, unknown>>)[0].syscall = 'socket'),
      'allowed[0]: "socket" is also a rule of this group',
    ],
  ])('%s', (_name, g, edit, msg) => {
    const d = mutated(g, edit);
    const err = validationError(() => validateGroupFile(d, f(g)));
    expect(err).toContain(`${f(g)}: `);
    expect(err).toContain(msg);
    // schema.json refuses the same files, except what only code can know
    // (constants, errno names, file names, duplicates, overlapping masks).
    const codeOnly = [
      'unknown errno',
      'unknown constant',
      'overlapping masks',
      'an ignored bit that is also checked',
      'too wide',
      'duplicate',
      'wrong group name',
      'allowed also a rule',
      'difference on an extension',
    ];
    if (!codeOnly.includes(_name)) expect(validateSchema(schema, d)).not.toEqual([]);
  });

  function setWith(g: GroupName, edit: (d: Record<string, unknown>) => void): GroupDefinition[] {
    return GROUP_NAMES.map((n) =>
      validateGroupFile(n === g ? mutated(n, edit) : raw(n), path.join(dir, `${n}.json`)),
    );
  }

  test('set-level checks', () => {
    expect(() => validateGroupSet(groups)).not.toThrow();
    expect(validationError(() => validateGroupSet(groups.slice(1)))).toBe(
      'group "default" is missing (filters/default.json)',
    );
    expect(
      validationError(() =>
        validateGroupSet(setWith('network', (d) => (rulesOf(d)[1].syscall = 'fork'))),
      ),
    ).toContain('"fork" is already in group "spawn": a syscall belongs to one group');
    expect(
      validationError(() =>
        validateGroupSet(setWith('spawn', (d) => (rulesOf(d)[0].syscall = 'forkk'))),
      ),
    ).toContain('"forkk" is no syscall of any ABI we know');
    expect(
      validationError(() =>
        validateGroupSet(setWith('default', (d) => delete rulesOf(d)[5].absentOn)),
      ),
    ).toContain('"umount" does not exist on x86_64; say so with "absentOn": ["x86_64"]');
    expect(
      validationError(() =>
        validateGroupSet(setWith('default', (d) => (rulesOf(d)[0].absentOn = ['arm']))),
      ),
    ).toContain('"reboot" is listed as absent on arm but arm has it');
    expect(
      validationError(() =>
        validateGroupSet(
          setWith(
            'network',
            (d) => ((d.allowed as Array<Record<string, unknown>>)[1].syscall = 'reboot'),
          ),
        ),
      ),
    ).toContain('"reboot" is listed as allowed but the default group denies it');
  });

  test('readGroupsDir reports malformed JSON and missing files by path', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-groups-'));
    try {
      for (const g of GROUP_NAMES)
        fs.copyFileSync(path.join(dir, `${g}.json`), path.join(tmp, `${g}.json`));
      expect(readGroupsDir(tmp).map((g) => g.name)).toEqual(GROUP_NAMES);
      fs.writeFileSync(path.join(tmp, 'spawn.json'), '{"group": "spawn",');
      expect(validationError(() => readGroupsDir(tmp))).toMatch(
        new RegExp(`^${path.join(tmp, 'spawn.json')}: malformed JSON: `),
      );
      fs.rmSync(path.join(tmp, 'spawn.json'));
      expect(validationError(() => readGroupsDir(tmp))).toMatch(/spawn\.json: cannot read: ENOENT/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
