/**
 * Preflight's table of QEMU knowledge, walked: every row has a case for
 * every kind of need it declares, so a new row (or a new kind in a row)
 * without a case fails here. Each case also goes through preflight() under
 * a policy that denies everything, to check the setting each need collides
 * with and the words of the finding.
 */
import { preflight } from '../../../src/launch/preflight';
import type { NeedKind } from '../../../src/launch/preflight-need';
import { OPTION_NEEDS } from '../../../src/launch/preflight-table';
import type { SandboxPolicy } from '../../../src/policy/types';

/** [option without dashes, its value (undefined: takes none), the needs it has, in order]. */
const CASES: readonly [string, string | undefined, readonly NeedKind[]][] = [
  ['daemonize', undefined, ['fork', 'setsid']],
  ['runas', 'qemu', ['switch-user']],
  ['run-with', 'user=qemu', ['switch-user']],
  ['run-with', 'async-teardown=on', ['fork']],
  ['run-with', 'chroot=/var/empty', []],
  ['async-teardown', undefined, ['fork']],
  ...['netdev', 'nic', 'net'].flatMap((o): [string, string, NeedKind[]][] => [
    [o, 'bridge,id=n0,br=br0', ['exec', 'create-tap', 'setuid-helper']],
    [
      o,
      'tap,id=n,helper=/usr/lib/qemu/qemu-bridge-helper',
      ['exec', 'create-tap', 'setuid-helper'],
    ],
    [o, 'tap,id=n,script=/x/up,downscript=no', ['create-tap', 'exec']],
    [o, 'tap,id=n,fd=3', []],
    [o, 'user,id=n,smb=/srv', ['ip-socket', 'exec']],
    [o, 'user,id=n,guestfwd=tcp:10.0.2.100:1234-cmd:netcat h 22', ['ip-socket', 'exec']],
    [o, 'socket,id=n,listen=:1234', ['ip-socket']],
    [o, 'stream,id=n,addr.type=unix,addr.path=/s', []],
    [o, 'passt,id=n', ['exec']],
  ]),
  ['chardev', 'socket,id=c,host=127.0.0.1,port=4444,server=on', ['ip-socket']],
  ['chardev', 'udp,id=c,host=h,port=1', ['ip-socket']],
  ['chardev', 'socket,id=c,path=/run/c.sock,server=on', []],
  ['gdb', 'tcp::1234', ['ip-socket']],
  ['gdb', 'unix:/run/gdb.sock,server=on,wait=off', []],
  ['s', undefined, ['ip-socket']],
  ['vnc', ':0', ['ip-socket']],
  ['vnc', 'unix:/run/vnc.sock', []],
  ['display', 'vnc=:0', ['ip-socket']],
  ['display', 'spice-app', ['exec']],
  ['display', 'none', []],
  ['spice', 'port=5900', ['ip-socket']],
  ['spice', 'unix=on,addr=/run/spice.sock', []],
  ['incoming', 'exec:gzip -dc state.gz', ['exec']],
  ['incoming', 'tcp:0:4444', ['ip-socket']],
  ['incoming', 'defer', []],
  ['drive', 'file=nbd://h/e,if=virtio', ['ip-socket']],
  ['drive', 'file=/var/lib/images/vm.qcow2', []],
  ['blockdev', 'driver=iscsi,node-name=d,transport=tcp,portal=h,target=t', ['ip-socket']],
  ['object', 'input-barrier,id=b,name=guest', ['ip-socket']],
  ['object', 'secret,id=s,data=x', []],
  ...['serial', 'parallel', 'monitor', 'qmp', 'qmp-pretty', 'debugcon', 'virtioconsole'].flatMap(
    (o): [string, string, NeedKind[]][] => [
      [o, 'tcp::4444,server=on,wait=off', ['ip-socket']],
      [o, 'unix:/run/c.sock,server=on,wait=off', []],
    ],
  ),
  ...['hda', 'hdb', 'hdc', 'hdd', 'cdrom', 'fda', 'fdb', 'sd', 'mtdblock', 'pflash'].flatMap(
    (o): [string, string, NeedKind[]][] => [
      [o, 'https://example.org/disk.iso', ['ip-socket']],
      [o, 'disk.img', []],
    ],
  ),
];

/** The setting each kind of need collides with (elevateprivileges=deny and no-new-privs set). */
const BROKEN_BY: Record<NeedKind, string> = {
  fork: 'spawn=deny',
  exec: 'spawn=deny',
  'exec-again': 'spawn=deny',
  setsid: 'elevateprivileges=deny',
  'switch-user': 'elevateprivileges=deny',
  'setuid-helper': 'no-new-privileges',
  'create-tap': 'network=deny',
  'ip-socket': 'network=deny',
};

const DENY_ALL: SandboxPolicy = {
  enable: true,
  obsolete: 'deny',
  elevatePrivileges: 'deny',
  spawn: 'deny',
  resourceControl: 'deny',
  network: 'deny',
  action: 'kill',
  preflight: 'enforce',
  files: 'allow',
};
const ALLOW_ALL: SandboxPolicy = {
  ...DENY_ALL,
  obsolete: 'allow',
  elevatePrivileges: 'allow',
  spawn: 'allow',
  resourceControl: 'allow',
  network: 'allow',
};
const host = { fileExists: (): boolean => false };
const argv = (name: string, value: string | undefined): string[] =>
  value === undefined ? [`-${name}`] : [`-${name}`, value];

describe('the table of what options need', () => {
  test.each(CASES.map(([n, v, k]) => [argv(n, v).join(' '), n, v, k] as const))(
    '%s',
    (_title, name, value, kinds) => {
      const row = OPTION_NEEDS.get(name);
      if (row === undefined) throw new Error(`-${name} has a case but no row in the table`);
      const needs = row.detect({ name, value: value ?? '' }, host);
      expect(needs.map((n) => n.kind)).toEqual(kinds);
      for (const n of needs) expect(row.needs).toContain(n.kind);
    },
  );

  test('every row has a case for each kind of need it declares', () => {
    const missing: string[] = [];
    for (const [name, row] of OPTION_NEEDS) {
      for (const kind of row.needs) {
        if (!CASES.some(([n, , kinds]) => n === name && kinds.includes(kind))) {
          missing.push(`-${name}: ${kind}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  test.each(
    CASES.filter(([, , k]) => k.length > 0).map(
      ([n, v, k]) => [argv(n, v).join(' '), n, v, k] as const,
    ),
  )('through preflight, denying everything: %s', (written, name, value, kinds) => {
    const ctx = { noNewPrivs: true, fileExists: host.fileExists };
    const findings = preflight(['-nodefaults', ...argv(name, value)], DENY_ALL, ctx);
    expect(findings.map((f) => `${f.arg} | ${f.setting}`)).toEqual(
      kinds.map((k) => `${written} | ${BROKEN_BY[k]}`),
    );
    for (const f of findings) {
      // The message says what the setting does; the fix gives the policy's way out too.
      expect(f.message).toContain(
        f.setting === 'elevateprivileges=deny' ? 'elevateprivileges' : f.setting,
      );
      expect(f.fix).toMatch(/, or |^use /);
      expect(f.fix).toMatch(/=allow/);
    }
    expect(
      preflight(['-nodefaults', ...argv(name, value)], ALLOW_ALL, { ...ctx, noNewPrivs: false }),
    ).toEqual([]);
  });
});

describe('needs of the command line as a whole', () => {
  test("QEMU's default NIC (no -nic/-net/-netdev/-nodefaults) and a #! script as the binary", () => {
    const findings = preflight(['-m', '512'], DENY_ALL, {
      noNewPrivs: false,
      binary: { path: '/usr/local/bin/qemu-wrapper', interpreter: '/bin/sh' },
    });
    expect(findings.map((f) => `${f.arg} | ${f.setting} | ${f.message}`)).toEqual([
      '(no -nic/-net/-netdev/-nodefaults) | network=deny | QEMU then adds a default NIC on user networking (slirp), which opens IP sockets; network=deny makes them fail',
      '/usr/local/bin/qemu-wrapper | spawn=deny | the QEMU binary is a script (#!/bin/sh); whatever it runs next is a second exec, which spawn=deny refuses (ENOSYS) once our own exec went through',
    ]);
  });
});
