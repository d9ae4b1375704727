/**
 * Every command through runCli, in-process: outputs on known policies, the
 * --json shapes, exit codes and error lines.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_ABI_NAMES, getHostAbi } from '../../../src/arch';
import { compilePolicy } from '../../../src/compiler';
import { parsePolicy } from '../../../src/policy';
import { json, run } from './run';
import { nullable, schemaErrors, type Schema } from './schema';
import { tempDir } from '../../helpers/tmp';

const FULL = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';
const tmp = tempDir('qs-cli-test-');

describe('usage errors exit 2 with one message line', () => {
  test.each([
    [[], /a command is required/],
    [['bogus'], /Unknown (argument|command).*bogus/],
    [['compile'], /Not enough non-option arguments/],
    [['compile', 'on', '--format', 'elf'], /Invalid values: Argument: format, Given: "elf"/],
    [['explain', 'on', '--frobnicate'], /Unknown argument: frobnicate/],
    [['export', 'on'], /Missing required argument: format/],
    [['simulate', 'on'], /Not enough non-option arguments/],
  ])('%j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(r.stderr).toMatch(/^qemu-sandbox: /);
  });

  test('raw binary to a terminal is refused (2); to a file it is written', async () => {
    const r = await run(['compile', 'on', '--format', 'raw'], { isTTY: true });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to write a binary filter to a terminal/);
    expect(r.stdout).toBe('');
  });
});

describe('bad input exits 1 with exactly one line', () => {
  test.each([
    [['explain', 'on,foo=bar'], "qemu-sandbox: -sandbox on,foo=bar: Invalid parameter 'foo'"],
    [
      ['compile', 'on,spawn=maybe'],
      'qemu-sandbox: -sandbox on,spawn=maybe: invalid argument for spawn',
    ],
    [['groups', '--arch', 'sparc'], /^qemu-sandbox: unknown ABI "sparc"/],
    [
      ['groups', 'spwan'],
      "qemu-sandbox: unknown group 'spwan'; groups: default, obsolete, elevateprivileges, spawn, resourcecontrol, network",
    ],
    [['simulate', 'on', 'frobnicate'], "qemu-sandbox: unknown syscall 'frobnicate' for x86_64"],
    [
      ['simulate', 'on', 'fork', '--arch', 'aarch64'],
      "qemu-sandbox: unknown syscall 'fork' for aarch64",
    ],
    [
      ['simulate', 'on', 'read', '0xZZ'],
      "qemu-sandbox: argument 0 '0xZZ' is not a number (decimal or 0x hex)",
    ],
    [['simulate', 'on', 'read', '1', '2', '3', '4', '5', '6', '7'], /at most 6/],
    [['compile', 'on', '--arch', 'i386'], /^qemu-sandbox: i386 is not a host ABI/],
    [['compile', 'off'], /is off: the launcher loads no filter/],
    [['export', 'off', '--format', 'oci'], /is off: there is nothing to export/],
    [
      ['audit', '/nonexistent/audit.log'],
      'qemu-sandbox: cannot read /nonexistent/audit.log: ENOENT',
    ],
    [['audit', '-', '--since', 'last tuesday'], /^qemu-sandbox: invalid --since 'last tuesday'/],
    [
      ['compile', 'on', '-o', '/nonexistent/dir/f.bpf'],
      'qemu-sandbox: cannot write /nonexistent/dir/f.bpf: ENOENT',
    ],
  ])('%j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    if (typeof message === 'string') expect(r.stderr.trimEnd()).toBe(message);
    else expect(r.stderr.trimEnd()).toMatch(message);
  });

  test('a malformed site config is an input error naming the file', async () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{"sandbx": "on"}');
    const r = await run(['explain', 'on'], { env: { QEMU_SANDBOXED_CONFIG: bad } });
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd()).toBe(
      `qemu-sandbox: config ${bad}: unknown key "sandbx" (known: sandbox, vms, minimum, binary)`,
    );
  });
});

test('--help lists every command and exits 0; each command has examples', async () => {
  const r = await run(['--help']);
  expect(r.code).toBe(0);
  for (const c of ['groups', 'explain', 'compile', 'simulate', 'doctor', 'audit', 'export']) {
    expect(r.stdout).toMatch(new RegExp(`qemu-sandbox ${c}\\b`));
    const sub = await run([c, '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/Examples:/);
  }
});

describe('groups', () => {
  test('text: every group, then the ungrouped calls', async () => {
    const r = await run(['groups']);
    expect(r.code).toBe(0);
    for (const g of [
      'default: always on',
      'obsolete: on with obsolete=deny',
      'spawn: on with spawn=deny',
      'network: on with network=deny',
    ]) {
      expect(r.stdout).toContain(g);
    }
    expect(r.stdout).toMatch(/^ {4}reboot +kill +# /m);
    expect(r.stdout).toMatch(/^ {4}fork +EPERM +# /m);
    expect(r.stdout).toMatch(
      /unless flags \(low 32 bits, CLONE_DETACHED ignored\) has all of CLONE_VM/,
    );
    expect(r.stdout).toMatch(/not in any group \(\d+ syscalls of x86_64, always allowed\)/);
  });

  test('one group', async () => {
    const r = await run(['groups', 'spawn']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^spawn: on with spawn=deny$/m);
    expect(r.stdout).not.toMatch(/^default:/m);
    expect(r.stdout).not.toMatch(/not in any group/);
  });

  const schema: Schema = {
    object: {
      abi: 'string',
      groups: {
        arrayOf: {
          object: {
            name: 'string',
            description: 'string',
            enabledBy: 'string',
            syscalls: {
              arrayOf: {
                object: {
                  name: 'string',
                  nr: nullable('number'),
                  action: 'string',
                  unless: nullable('string'),
                  reason: 'string',
                },
              },
            },
            allowed: { arrayOf: { object: { name: 'string', reason: 'string' } } },
          },
        },
      },
      ungrouped: { arrayOf: 'string' },
    },
  };

  test.each(['x86_64', 'aarch64', 'i386', 's390x'])(
    '--json --arch %s: shape, and grouped + ungrouped = the table',
    async (arch) => {
      const r = await run(['groups', '--json', '--arch', arch]);
      expect(r.code).toBe(0);
      const g = json(r) as {
        abi: string;
        groups: { syscalls: { name: string; nr: number | null }[] }[];
        ungrouped: string[];
      };
      expect(schemaErrors(g, schema)).toEqual([]);
      expect(g.abi).toBe(arch);
      const present = g.groups.flatMap((x) =>
        x.syscalls.filter((s) => s.nr !== null).map((s) => s.name),
      );
      const abi =
        arch === 'i386' ? getHostAbi('x86_64').secondary[0] : getHostAbi(arch as 'x86_64').native;
      expect(new Set([...present, ...g.ungrouped])).toEqual(new Set(abi.syscalls.keys()));
    },
  );
});

describe('explain', () => {
  test('the full libvirt policy in words', async () => {
    const r = await run(['explain', FULL]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kill \(\d+\): the call kills the process \(SIGSYS\)$/m);
    expect(r.stdout).toMatch(/^EPERM \(\d+\): the call fails with EPERM$/m);
    expect(r.stdout).toMatch(/^ENOSYS \(\d+\): the call fails with ENOSYS$/m);
    expect(r.stdout).toMatch(/^notify \(2\): .*exec gate/m);
    expect(r.stdout).toMatch(
      /^ {2}sched_setscheduler \(resourcecontrol\): EPERM unless policy \(low 32 bits\) is SCHED_IDLE$/m,
    );
    expect(r.stdout).toMatch(/^foreign ABIs: i386, x32 calls -> KILL_PROCESS/m);
    expect(r.stdout).toMatch(/^no-new-privs: elevateprivileges=deny/m);
    expect(r.stdout).toMatch(/^exec gate: yes/m);
  });

  test('off, action=log, and a secondary ABI', async () => {
    expect((await run(['explain', 'off'])).stdout).toMatch(/The sandbox is off/);
    const log = await run(['explain', 'on,action=log']);
    expect(log.stdout).toMatch(/^log \(\d+\): the call is allowed and logged$/m);
    expect(log.stdout).toMatch(/foreign ABIs: .* -> LOG/);
    expect(log.stdout).toMatch(/^exec gate: no$/m);
    const i386 = await run(['explain', 'on', '--arch', 'i386']);
    expect(i386.stdout).toMatch(/Every i386 call is killed \(SIGSYS\) on a x86_64 host/);
    // The arch check takes the policy's kill-class action, which action=log makes a log.
    const i386log = await run(['explain', 'on,action=log', '--arch', 'i386']);
    expect(i386log.stdout).toMatch(/Every i386 call is logged and allowed \(action=log\) on/);
  });

  test('--json shape', async () => {
    const r = await run(['explain', FULL, '--json']);
    const schema: Schema = {
      object: {
        policy: 'string',
        base: 'string',
        vm: nullable({ object: { name: 'string', policy: nullable('string') } }),
        minimum: nullable({
          object: {
            policy: 'string',
            origin: 'string',
            requested: 'string',
            tightened: {
              arrayOf: {
                object: { key: 'string', from: 'string', to: 'string', source: 'string' },
              },
            },
          },
        }),
        origins: { record: 'string' },
        enabled: 'boolean',
        abi: 'string',
        host: 'string',
        actions: {
          arrayOf: {
            object: { label: 'string', words: 'string', groups: { record: { arrayOf: 'string' } } },
          },
        },
        argumentChecked: {
          arrayOf: {
            object: {
              syscall: 'string',
              group: 'string',
              action: 'string',
              unless: 'string',
              reason: 'string',
            },
          },
        },
        foreign: nullable({
          object: {
            abis: { arrayOf: 'string' },
            numbers: { arrayOf: 'string' },
            action: 'string',
            words: 'string',
          },
        }),
        noNewPrivs: { object: { when: 'string', why: 'string' } },
        execGate: 'boolean',
        warnings: { arrayOf: 'string' },
      },
    };
    const e = json(r);
    expect(schemaErrors(e, schema)).toEqual([]);
    expect(e).toMatchObject({
      policy: `${FULL},network=allow,action=kill,preflight=enforce`,
      vm: null,
      minimum: null,
      origins: { enable: '-sandbox', spawn: '-sandbox', network: 'built-in default' },
      execGate: true,
      noNewPrivs: { when: 'always' },
    });
  });
});

describe('explain: the site default, the per-VM entry and the minimum', () => {
  const site = (name: string, config: Record<string, unknown>): NodeJS.ProcessEnv => {
    const p = join(tmp, name);
    writeFileSync(p, JSON.stringify(config));
    return { QEMU_SANDBOXED_CONFIG: p };
  };
  const config = {
    sandbox: 'on,action=log',
    vms: { web1: 'spawn=deny,network=deny' },
    minimum: 'on,action=errno',
  };

  test('--vm NAME without POLICY: what that VM gets with no -sandbox', async () => {
    const env = site('vm.json', config);
    const r = await run(['explain', '--vm', 'web1'], { env });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(
      "policy on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=allow,network=deny,action=errno,preflight=enforce  (site default 'on,action=log' < vms.web1 'spawn=deny,network=deny')",
    );
    expect(lines[1]).toBe("vm     web1: vms entry 'spawn=deny,network=deny'");
    expect(lines[2]).toBe(
      `minimum on,action=errno (minimum in ${env.QEMU_SANDBOXED_CONFIG}): raised action log -> errno (sandbox in ${env.QEMU_SANDBOXED_CONFIG})`,
    );
    expect(r.stdout).toMatch(/^notify \(2\): .*exec gate/m);
  });

  test('the command line wins over the VM entry; the minimum over both', async () => {
    const env = site('vm2.json', config);
    const e = json(await run(['explain', 'off', '--vm', 'web1', '--json'], { env })) as {
      policy: string;
      enabled: boolean;
      vm: unknown;
      minimum: { requested: string; tightened: unknown[] };
      origins: Record<string, string>;
    };
    expect(e.enabled).toBe(true);
    expect(e.vm).toEqual({ name: 'web1', policy: 'spawn=deny,network=deny' });
    expect(e.minimum.requested).toBe('off');
    expect(e.minimum.tightened).toEqual([
      { key: 'enable', from: 'off', to: 'on', source: '-sandbox' },
      {
        key: 'action',
        from: 'log',
        to: 'errno',
        source: `sandbox in ${env.QEMU_SANDBOXED_CONFIG}`,
      },
    ]);
    // off came back on with the keys merged before it (the VM entry's included).
    expect(e.policy).toBe(
      'on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=allow,network=deny,action=errno,preflight=enforce',
    );
    expect(e.origins).toMatchObject({
      enable: `minimum in ${env.QEMU_SANDBOXED_CONFIG}`,
      spawn: `vms.web1 in ${env.QEMU_SANDBOXED_CONFIG}`,
    });
  });

  test('a VM without an entry is named, and gets the site default', async () => {
    const env = site('vm3.json', config);
    const r = await run(['explain', '--vm', 'other'], { env });
    expect(r.stdout.split('\n')[1]).toBe(
      'vm     other: no entry in "vms", the site default applies',
    );
  });

  test('a site default without on/off is on; the minimum says when it raised nothing', async () => {
    const env = site('implied.json', { sandbox: 'spawn=deny', minimum: 'on' });
    const r = await run(['explain'], { env });
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([
      "policy on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=allow,network=allow,action=kill,preflight=enforce  (site default 'spawn=deny')",
      `minimum on (minimum in ${env.QEMU_SANDBOXED_CONFIG}): nothing to raise`,
    ]);
  });

  test('compile loads what the launcher would: the minimum applies there too', async () => {
    const env = site('compile.json', { minimum: 'on,spawn=deny' });
    const floored = json(await run(['compile', 'off', '--json'], { env })) as { policy: string };
    expect(floored.policy).toBe(
      'on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=allow,network=allow,action=kill,preflight=enforce',
    );
  });
});

describe('compile', () => {
  const expected = compilePolicy(parsePolicy(FULL), 'x86_64');

  test('raw: byte for byte the compiler output the launcher loads', async () => {
    const r = await run(['compile', FULL, '--format', 'raw']);
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.equals(Buffer.from(expected.bytes))).toBe(true);
  });

  test.each(HOST_ABI_NAMES.map((a) => [a]))('every format for %s', async (abi) => {
    const f = compilePolicy(parsePolicy(FULL), abi);
    const raw = await run(['compile', FULL, '--format', 'raw', '--arch', abi]);
    expect(raw.stdoutBytes.equals(Buffer.from(f.bytes))).toBe(true);
    for (const format of ['c', 'disasm', 'json']) {
      const r = await run(['compile', FULL, '--format', format, '--arch', abi]);
      expect([format, r.code, r.stderr]).toEqual([format, 0, '']);
      expect(r.stdout).toContain(f.hash);
    }
    const e = await run(['explain', FULL, '--arch', abi]);
    expect([e.code, e.stderr]).toEqual([0, '']);
  });

  test('raw for s390x is big-endian', async () => {
    const r = await run(['compile', 'on', '--format', 'raw', '--arch', 's390x']);
    const s390 = compilePolicy(parsePolicy('on'), 's390x');
    expect(r.stdoutBytes.equals(Buffer.from(s390.bytes))).toBe(true);
    // First instruction: ld [arch] = code 0x0020, k = 4, big-endian.
    expect([...r.stdoutBytes.subarray(0, 8)]).toEqual([0x00, 0x20, 0, 0, 0, 0, 0, 4]);
  });

  test('--output writes the file and nothing to stdout', async () => {
    const file = join(tmp, 'f.bpf');
    const r = await run(['compile', FULL, '--format', 'raw', '--output', file], { isTTY: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(readFileSync(file).equals(Buffer.from(expected.bytes))).toBe(true);
  });

  test('c: one initializer per instruction with the same numbers', async () => {
    const r = await run(['compile', FULL, '--format', 'c']);
    const inits = [
      ...r.stdout.matchAll(/\{ (0x[0-9a-f]{4}), (\d+), (\d+), (0x[0-9a-f]{8}) \}/g),
    ].map((m) => ({
      code: Number(m[1]),
      jt: Number(m[2]),
      jf: Number(m[3]),
      k: Number(m[4]),
    }));
    expect(inits).toEqual(
      expected.program.map((i) => ({ code: i.code, jt: i.jt, jf: i.jf, k: i.k >>> 0 })),
    );
    expect(r.stdout).toContain(`.len = ${expected.program.length},`);
    expect(r.stdout).toContain(`sha256 ${expected.hash}`);
    expect(r.stdout).toContain('#include <linux/filter.h>');
  });

  test('json: instructions and metadata', async () => {
    const r = await run(['compile', FULL, '--format', 'json']);
    const schema: Schema = {
      object: {
        abi: 'string',
        policy: 'string',
        policyInput: 'string',
        endian: 'string',
        auditArch: 'number',
        length: 'number',
        bytes: 'number',
        sha256: 'string',
        needsExecGate: 'boolean',
        cache: {
          object: {
            allowedTotal: 'number',
            cached: 'number',
            uncachedAllowed: { arrayOf: 'number' },
            kernelCached: nullable('number'),
          },
        },
        paths: {
          record: { object: { count: 'number', min: 'number', mean: 'number', max: 'number' } },
        },
        instructions: {
          arrayOf: {
            object: { code: 'number', jt: 'number', jf: 'number', k: 'number', text: 'string' },
          },
        },
      },
    };
    const j = json(r) as {
      sha256: string;
      length: number;
      needsExecGate: boolean;
      instructions: { text: string }[];
    };
    expect(schemaErrors(j, schema)).toEqual([]);
    expect(j.sha256).toBe(expected.hash);
    expect(j.length).toBe(expected.program.length);
    expect(j.needsExecGate).toBe(true);
    expect(j.instructions[0].text).toBe('ld [arch]');
    // The compiler's promise, visible to operators: every always-allowed call is cached.
    const cache = (j as unknown as { cache: { allowedTotal: number; cached: number } }).cache;
    expect(cache.cached).toBe(cache.allowedTotal);
  });

  test('--json is --format json; with another --format it is a usage error', async () => {
    const r = await run(['compile', FULL, '--json']);
    expect(r.code).toBe(0);
    expect((json(r) as { sha256: string }).sha256).toBe(expected.hash);
    const bad = await run(['compile', FULL, '--json', '--format', 'c']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('qemu-sandbox: --json contradicts --format c\n');
  });

  test('disasm: header, names and verdicts next to syscall numbers', async () => {
    const r = await run(['compile', FULL]);
    expect(r.stdout).toMatch(/^; exec gate: yes/m);
    expect(r.stdout).toMatch(/^; action cache: (\d+)\/\1 always-allowed syscalls cached/m);
    expect(r.stdout).toMatch(
      /^; instructions executed min\/mean\/max: every syscall \d+\/[\d.]+\/\d+/m,
    );
    expect(r.stdout).toMatch(/; x86_64$/m);
    expect(r.stdout).toMatch(/^ *\d+: jeq #\d+ .*; [a-z_0-9]+ -> ERRNO\(1\)/m);
    // A range comparison names what it decides: grep finds reboot there.
    expect(r.stdout.split('\n').filter((l) => /\breboot\b/.test(l))).toEqual([
      expect.stringMatching(/^ *\d+: jg[et] #\d+ .*KILL_PROCESS: [a-z_0-9 ]*\breboot\b/),
    ]);
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .filter((l) => !l.startsWith(';')),
    ).toHaveLength(expected.program.length);
  });
});

describe('simulate', () => {
  test.each([
    [['on', 'read'], 'ALLOW'],
    [['on', 'reboot'], 'KILL_PROCESS'],
    [['on,action=log', 'reboot'], 'LOG'],
    [['on,spawn=deny', 'fork'], 'ERRNO(1) EPERM'],
    [['on,spawn=deny', 'clone', '0x3d0f00'], 'ALLOW'],
    // A thread's flags with CLONE_DETACHED (musl) are still a thread; the upper 32 bits are ignored.
    [['on,spawn=deny', 'clone', '0x7d0f00'], 'ALLOW'],
    [['on,spawn=deny', 'clone', '0xffffffff003d0f00'], 'ALLOW'],
    [['on,spawn=deny', 'clone', '0x11'], 'ERRNO(1) EPERM'],
    [['on,spawn=deny', 'clone3'], 'ERRNO(38) ENOSYS'],
    [['on,spawn=deny', 'execve'], 'USER_NOTIF'],
    [['on,network=deny', 'socket', '2'], 'ERRNO(97) EAFNOSUPPORT'],
    [['on,network=deny', 'socket', '1'], 'ALLOW'],
    [['on,resourcecontrol=deny', 'sched_setscheduler', '0', '5'], 'ALLOW'],
    [['on,resourcecontrol=deny', 'sched_setscheduler', '0', '1'], 'ERRNO(1) EPERM'],
    [['on', '169'], 'KILL_PROCESS'], // reboot by number
    [['on', '0x40000000'], 'KILL_PROCESS'], // x32 read
    [['on', '0xffffffff'], 'ALLOW'], // -1: ptrace's skip
    [['on', 'read', '--arch', 'i386'], 'KILL_PROCESS'],
    [['on', 'read', '--arch', 'x32'], 'KILL_PROCESS'],
    [['on', 'reboot', '--arch', 'aarch64'], 'KILL_PROCESS'],
    [['off', 'reboot'], 'ALLOW'],
  ])('%j -> %s', async (argv, verdict) => {
    const r = await run(['simulate', ...argv]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^verdict +${verdict.replace(/[()]/g, '\\$&')}$`, 'm'));
  });

  test('a syscall with a rule in two groups (ioctl): the rule that decided, or both exemptions', async () => {
    const tun = await run(['simulate', 'on,network=deny', 'ioctl', '3', '0x400454ca']);
    expect(tun.stdout).toMatch(/^verdict +ERRNO\(1\) EPERM$/m);
    expect(tun.stdout).toMatch(/^why +network: ioctl fails with EPERM \(request is TUNSETIFF, /m);
    const sti = await run(['simulate', 'on,network=deny', 'ioctl', '3', '0x5412']);
    expect(sti.stdout).toMatch(/^why +default: ioctl fails with EPERM \(request is TIOCSTI, /m);
    const kvm = await run(['simulate', 'on,network=deny', 'ioctl', '3', '0xae80']);
    expect(kvm.stdout).toMatch(/^verdict +ALLOW$/m);
    expect(kvm.stdout).toMatch(
      /^why +default: allowed because request .* is none of TIOCSTI, .*; network: allowed because request .* is none of TUNSETIFF/m,
    );
  });

  test('foreign ABIs and x32 numbers get the kill-class action, and the why says which', async () => {
    const x32 = await run(['simulate', 'on,action=log', '0x40000000']);
    expect(x32.stdout).toMatch(/^verdict +LOG$/m);
    expect(x32.stdout).toMatch(
      /^why +an x32 number \(x32 read\): logged and allowed \(action=log\), QEMU never uses/m,
    );
    const i386 = await run(['simulate', 'on,action=errno', 'read', '--arch', 'i386']);
    expect(i386.stdout).toMatch(/^verdict +ERRNO\(1\) EPERM$/m);
    expect(i386.stdout).toMatch(
      /^why +i386 is a foreign ABI on x86_64: the arch check comes first, every call is refused with EPERM$/m,
    );
    const killed = await run(['simulate', 'on', 'read', '--arch', 'i386']);
    expect(killed.stdout).toMatch(/^why +.*every call is killed \(SIGSYS\)$/m);
  });

  test('negative arguments after --, and the instruction count', async () => {
    const r = await run([
      'simulate',
      'on,resourcecontrol=deny',
      'sched_setscheduler',
      '--json',
      '--',
      '-1',
      '5',
    ]);
    expect(r.code).toBe(0);
    const j = json(r) as {
      args: string[];
      verdict: { action: string };
      executed: number;
      programLength: number;
    };
    expect(j.args).toEqual(['0xffffffffffffffff', '0x5']);
    expect(j.verdict.action).toBe('ALLOW');
    expect(j.executed).toBeGreaterThan(2);
    expect(j.executed).toBeLessThanOrEqual(j.programLength);
    // The listed path is exactly as long as the interpreter's count, starts at 0 and ends in a ret.
    const path = (j as unknown as { path: string[] }).path;
    expect(path).toHaveLength(j.executed);
    expect(path[0]).toBe('0: ld [arch]');
    expect(path[path.length - 1]).toMatch(/^\d+: ret ALLOW$/);
  });

  test('--json shape and the rule explanation', async () => {
    const r = await run(['simulate', 'on,spawn=deny', 'clone', '0x11', '--json']);
    const schema: Schema = {
      object: {
        abi: 'string',
        host: 'string',
        policy: 'string',
        syscall: { object: { nr: 'number', name: nullable('string') } },
        args: { arrayOf: 'string' },
        verdict: { object: { value: 'number', action: 'string', errno: nullable('string') } },
        allowed: 'boolean',
        explanation: 'string',
        rule: nullable({
          object: {
            group: 'string',
            reason: 'string',
            condition: nullable('string'),
            conditionHolds: nullable('boolean'),
          },
        }),
        executed: 'number',
        path: { arrayOf: 'string' },
        programLength: 'number',
      },
    };
    const j = json(r);
    expect(schemaErrors(j, schema)).toEqual([]);
    expect(j).toMatchObject({
      syscall: { nr: 56, name: 'clone' },
      verdict: { value: 0x50001, action: 'ERRNO(1)', errno: 'EPERM' },
      allowed: false,
      rule: { group: 'spawn', conditionHolds: false },
    });
    expect((j as { explanation: string }).explanation).toMatch(/flags lacks CLONE_VM\|/);
  });
});

describe('export', () => {
  test('oci: a linux.seccomp object', async () => {
    const r = await run(['export', FULL, '--format', 'oci']);
    expect(r.code).toBe(0);
    const schema: Schema = {
      object: {
        defaultAction: 'string',
        architectures: { arrayOf: 'string' },
        syscalls: {
          arrayOf: {
            object: {
              names: { arrayOf: 'string' },
              action: 'string',
              errnoRet: 'number',
              args: {
                arrayOf: {
                  object: { index: 'number', value: 'number', valueTwo: 'number', op: 'string' },
                  optional: ['valueTwo'],
                },
              },
              comment: 'string',
            },
            optional: ['errnoRet', 'args', 'comment'],
          },
        },
        'x-qemu-sandboxed': {
          object: { policy: 'string', abi: 'string', notes: { arrayOf: 'string' } },
        },
      },
    };
    const j = json(r) as { syscalls: { action: string }[] };
    expect(schemaErrors(j, schema)).toEqual([]);
    for (const s of j.syscalls)
      expect(s.action).toMatch(/^SCMP_ACT_(KILL_PROCESS|ERRNO|TRAP|LOG)$/);
  });

  test('systemd --json: header, lines and notes', async () => {
    const r = await run(['export', 'on,spawn=deny', '--format', 'systemd', '--json']);
    expect(r.code).toBe(0);
    const schema: Schema = {
      object: {
        header: { arrayOf: 'string' },
        lines: { arrayOf: 'string' },
        notes: { arrayOf: 'string' },
      },
    };
    const j = json(r) as { lines: string[]; notes: string[] };
    expect(schemaErrors(j, schema)).toEqual([]);
    expect(j.lines[0]).toBe('SystemCallArchitectures=native');
    expect(j.notes.some((n) => n.startsWith('exec gate:'))).toBe(true);
  });

  test('systemd: unit lines', async () => {
    const r = await run(['export', 'on', '--format', 'systemd']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^SystemCallArchitectures=native$/m);
    expect(r.stdout).toMatch(/^SystemCallFilter=~reboot /m);
    expect(r.stdout).toMatch(/^SystemCallFilter=~.*fsopen:ENOSYS/m);
    expect(r.stdout).not.toMatch(/^NoNewPrivileges=/m);
  });
});
