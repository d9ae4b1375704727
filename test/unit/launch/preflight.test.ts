/** Preflight: one test per refusal, with the command lines it must leave alone. */
import {
  isLibvirtCapabilityProbe,
  preflight,
  preflightReport,
} from '../../../src/launch/preflight';
import type { PreflightContext, PreflightFinding } from '../../../src/launch/preflight';
import type { SandboxPolicy } from '../../../src/policy/types';

const ALLOW: SandboxPolicy = {
  enable: true,
  obsolete: 'allow',
  elevatePrivileges: 'allow',
  spawn: 'allow',
  resourceControl: 'allow',
  network: 'allow',
  action: 'kill',
  preflight: 'enforce',
  files: 'allow',
};
const policy = (p: Partial<SandboxPolicy>): SandboxPolicy => ({ ...ALLOW, ...p });
const SPAWN = policy({ spawn: 'deny' });
const ELEV = policy({ elevatePrivileges: 'deny' });
const NET = policy({ network: 'deny' });

/** A machine without /etc/qemu-ifup and /etc/qemu-ifdown unless a test says so. */
const noFiles: PreflightContext = { noNewPrivs: false, fileExists: () => false };
/** network=deny tests add -nodefaults so the default NIC does not add a finding of its own. */
const run = (
  args: string[],
  p: SandboxPolicy,
  ctx: PreflightContext = noFiles,
): PreflightFinding[] =>
  preflight(
    p.network === 'deny' && !args.includes('-nic') ? ['-nodefaults', ...args] : args,
    p,
    ctx,
  );
const settings = (f: PreflightFinding[]): string[] => f.map((x) => `${x.arg} | ${x.setting}`);

describe('reading the command line (src/policy/qemu-args)', () => {
  test('-opt and --opt alike; a value is never taken for an option', () => {
    expect(settings(run(['--daemonize'], SPAWN))).toEqual(['--daemonize | spawn=deny']);
    expect(run(['-append', '-daemonize', '-kernel', 'vmlinuz'], SPAWN)).toEqual([]);
    expect(run(['-name', '-runas'], ELEV)).toEqual([]);
  });

  test('",," is an escaped comma inside a value, not a separator', () => {
    // path is "/tmp/a,host=x": a unix socket, with no host= key.
    expect(run(['-chardev', 'socket,id=c,path=/tmp/a,,host=x'], NET)).toEqual([]);
    expect(run(['-chardev', 'socket,id=c,path=/tmp/a,host=x'], NET)).toEqual([]); // path wins
    expect(run(['-chardev', 'socket,id=c,host=x,,path=/tmp/a,port=1'], NET).length).toBe(1);
  });

  test('short-form booleans and JSON values', () => {
    expect(settings(run(['-run-with', 'async-teardown'], SPAWN))).toEqual([
      '-run-with async-teardown | spawn=deny',
    ]);
    expect(settings(run(['-netdev', '{"type":"user","id":"n","smb":"/srv"}'], SPAWN))).toEqual([
      '-netdev {"type":"user","id":"n","smb":"/srv"} | spawn=deny',
    ]);
    // Malformed JSON: QEMU refuses it by itself; preflight does not crash.
    expect(run(['-netdev', '{"type":'], SPAWN)).toEqual([]);
  });
});

describe('spawn=deny', () => {
  test('a #! script as the QEMU binary (its exec of the real QEMU would be refused)', () => {
    const script = { path: '/usr/bin/qemu-system-i386', interpreter: '/bin/sh' };
    const f = preflight([], SPAWN, { noNewPrivs: false, binary: script });
    expect(settings(f)).toEqual(['/usr/bin/qemu-system-i386 | spawn=deny']);
    expect(f[0].message).toContain('#!/bin/sh');
    expect(preflight([], ALLOW, { noNewPrivs: false, binary: script })).toEqual([]);
    const elf = { path: '/usr/bin/qemu-system-x86_64' };
    expect(preflight([], SPAWN, { noNewPrivs: false, binary: elf })).toEqual([]);
  });

  test('-daemonize', () => {
    expect(settings(run(['-daemonize'], SPAWN))).toEqual(['-daemonize | spawn=deny']);
    expect(run(['--daemonize'], ALLOW)).toEqual([]);
  });

  test('-netdev/-net/-nic bridge (qemu-bridge-helper)', () => {
    expect(settings(run(['-netdev', 'bridge,id=n0,br=br0'], SPAWN))).toEqual([
      '-netdev bridge,id=n0,br=br0 | spawn=deny',
    ]);
    expect(settings(run(['-net', 'bridge'], SPAWN))).toEqual(['-net bridge | spawn=deny']);
    expect(settings(run(['-nic', 'bridge,br=br0'], SPAWN))).toEqual([
      '-nic bridge,br=br0 | spawn=deny',
    ]);
    expect(
      settings(run(['-netdev', 'tap,id=n,helper=/usr/lib/qemu/qemu-bridge-helper'], SPAWN)),
    ).toEqual(['-netdev tap,id=n,helper=/usr/lib/qemu/qemu-bridge-helper | spawn=deny']);
    expect(run(['-netdev', 'bridge,id=n0'], ALLOW)).toEqual([]);
  });

  test('tap script=/downscript=, and the default scripts when they exist', () => {
    const withDefaults: PreflightContext = {
      noNewPrivs: false,
      fileExists: (p) => p === '/etc/qemu-ifup' || p === '/etc/qemu-ifdown',
    };
    const f = run(['-netdev', 'tap,id=n,ifname=tap0'], SPAWN, withDefaults);
    expect(settings(f)).toEqual(['-netdev tap,id=n,ifname=tap0 | spawn=deny']);
    expect(f[0].message).toMatch(
      /\/etc\/qemu-ifup at start and \/etc\/qemu-ifdown when the VM stops/,
    );
    // Only a downscript: still refused (it is what fails weeks later, at shutdown).
    expect(settings(run(['-netdev', 'tap,id=n,script=no,downscript=/x/down'], SPAWN))).toEqual([
      '-netdev tap,id=n,script=no,downscript=/x/down | spawn=deny',
    ]);
    expect(settings(run(['-nic', 'tap,script=/x/up'], SPAWN))).toEqual([
      '-nic tap,script=/x/up | spawn=deny',
    ]);
    // Defaults that do not exist are not run.
    expect(run(['-netdev', 'tap,id=n,ifname=tap0'], SPAWN, noFiles)).toEqual([]);
    // script=no,downscript=no, or a pre-opened fd: nothing runs.
    expect(run(['-netdev', 'tap,id=n,script=no,downscript=no'], SPAWN, withDefaults)).toEqual([]);
    expect(run(['-netdev', 'tap,fd=3,id=n'], SPAWN, withDefaults)).toEqual([]);
    expect(run(['-netdev', 'tap,fds=3:4,id=n,vhost=on,vhostfds=5:6'], SPAWN, withDefaults)).toEqual(
      [],
    );
    expect(run(['-netdev', 'tap,id=n,script=/x/up'], ALLOW)).toEqual([]);
  });

  test('smb= and guestfwd=...-cmd: on user networking', () => {
    expect(settings(run(['-netdev', 'user,id=n,smb=/srv/share'], SPAWN))).toEqual([
      '-netdev user,id=n,smb=/srv/share | spawn=deny',
    ]);
    expect(
      settings(run(['-nic', 'user,guestfwd=tcp:10.0.2.100:1234-cmd:netcat h 22'], SPAWN)),
    ).toEqual(['-nic user,guestfwd=tcp:10.0.2.100:1234-cmd:netcat h 22 | spawn=deny']);
    expect(run(['-netdev', 'user,id=n,hostfwd=tcp::2222-:22'], SPAWN)).toEqual([]);
    expect(run(['-netdev', 'user,id=n,smb=/srv'], ALLOW)).toEqual([]);
  });

  test('-incoming exec:', () => {
    expect(settings(run(['-incoming', 'exec:gzip -dc state.gz'], SPAWN))).toEqual([
      '-incoming exec:gzip -dc state.gz | spawn=deny',
    ]);
    expect(run(['-incoming', 'defer'], SPAWN)).toEqual([]);
    expect(run(['-incoming', 'fd:3'], SPAWN)).toEqual([]);
    expect(run(['-incoming', 'exec:cat x'], ALLOW)).toEqual([]);
  });

  test('async teardown and -display spice-app', () => {
    expect(settings(run(['-run-with', 'async-teardown=on'], SPAWN))).toEqual([
      '-run-with async-teardown=on | spawn=deny',
    ]);
    expect(settings(run(['-async-teardown'], SPAWN))).toEqual(['-async-teardown | spawn=deny']);
    expect(settings(run(['-display', 'spice-app'], SPAWN))).toEqual([
      '-display spice-app | spawn=deny',
    ]);
    expect(run(['-run-with', 'async-teardown=off'], SPAWN)).toEqual([]);
    expect(run(['-display', 'none'], SPAWN)).toEqual([]);
  });
});

describe('elevateprivileges=deny|children', () => {
  test('-runas and -run-with user=', () => {
    for (const e of ['deny', 'children'] as const) {
      const p = policy({ elevatePrivileges: e });
      expect(settings(run(['-runas', 'qemu'], p))).toEqual([
        `-runas qemu | elevateprivileges=${e}`,
      ]);
      expect(settings(run(['-run-with', 'user=qemu'], p))).toEqual([
        `-run-with user=qemu | elevateprivileges=${e}`,
      ]);
    }
    expect(run(['-runas', 'qemu'], ALLOW)).toEqual([]);
    expect(run(['-run-with', 'chroot=/var/empty'], ELEV)).toEqual([]);
  });

  test('-daemonize (setsid)', () => {
    expect(settings(run(['-daemonize'], ELEV))).toEqual(['-daemonize | elevateprivileges=deny']);
    expect(
      settings(run(['-daemonize'], policy({ spawn: 'deny', elevatePrivileges: 'children' }))),
    ).toEqual(['-daemonize | spawn=deny', '-daemonize | elevateprivileges=children']);
  });
});

describe('no-new-privileges', () => {
  test('bridge helpers are setuid: refused whenever no-new-privs will be set', () => {
    const nnp: PreflightContext = { noNewPrivs: true, fileExists: () => false };
    const f = run(['-netdev', 'bridge,id=n0'], ALLOW, nnp);
    expect(settings(f)).toEqual(['-netdev bridge,id=n0 | no-new-privileges']);
    expect(f[0].group).toBe('no-new-privs');
    expect(run(['-netdev', 'bridge,id=n0'], ALLOW, noFiles)).toEqual([]);
    expect(run(['-netdev', 'tap,fd=3,id=n0'], ALLOW, nnp)).toEqual([]);
  });
});

describe('network=deny', () => {
  const refused = (args: string[]): string[] => run(args, NET).map((f) => f.setting);

  test('user networking, and the default NIC QEMU adds when none is configured', () => {
    expect(refused(['-netdev', 'user,id=n'])).toEqual(['network=deny']);
    expect(refused(['-nic', 'user'])).toEqual(['network=deny']);
    expect(refused(['-net', 'nic', '-net', 'user'])).toEqual(['network=deny']);
    const dflt = preflight(['-m', '512', 'disk.img'], NET, noFiles);
    expect(settings(dflt)).toEqual(['(no -nic/-net/-netdev/-nodefaults) | network=deny']);
    expect(dflt[0].fix).toMatch(/-nic none/);
    expect(preflight(['-nic', 'none'], NET, noFiles)).toEqual([]);
    expect(preflight(['-nodefaults'], NET, noFiles)).toEqual([]);
    expect(preflight(['-netdev', 'tap,fd=3,id=n'], NET, noFiles)).toEqual([]);
    // network=allow: the default NIC is fine.
    expect(preflight([], ALLOW, noFiles)).toEqual([]);
  });

  test('a tap QEMU (or its bridge helper) creates itself, not one libvirt passes as fd=', () => {
    const tap = run(['-netdev', 'tap,id=n,ifname=tap0,script=no,downscript=no'], NET);
    expect(settings(tap)).toEqual([
      '-netdev tap,id=n,ifname=tap0,script=no,downscript=no | network=deny',
    ]);
    expect(tap[0].message).toMatch(/TUNSETIFF/);
    expect(tap[0].fix).toMatch(/fd=N/);
    expect(refused(['-nic', 'tap,script=no,downscript=no'])).toEqual(['network=deny']);
    expect(refused(['-netdev', 'bridge,id=n,br=br0'])).toEqual(['network=deny']);
    expect(refused(['-netdev', 'tap,id=n,helper=/usr/lib/qemu/qemu-bridge-helper'])).toEqual([
      'network=deny',
    ]);
    expect(refused(['-netdev', 'tap,fds=3:4,id=n,vhost=on,vhostfds=5:6'])).toEqual([]);
  });

  test('socket-based netdevs on IP, not on unix sockets or fds', () => {
    expect(refused(['-netdev', 'socket,id=n,listen=:1234'])).toEqual(['network=deny']);
    expect(
      refused(['-netdev', 'stream,id=n,server=off,addr.type=inet,addr.host=h,addr.port=1']),
    ).toEqual(['network=deny']);
    expect(refused(['-netdev', 'dgram,id=n,remote.type=inet,remote.host=h,remote.port=1'])).toEqual(
      ['network=deny'],
    );
    expect(refused(['-netdev', 'stream,id=n,addr.type=unix,addr.path=/s'])).toEqual([]);
    expect(refused(['-netdev', 'socket,id=n,fd=5'])).toEqual([]);
  });

  test('VNC on TCP, not on a unix socket', () => {
    expect(refused(['-vnc', ':0'])).toEqual(['network=deny']);
    expect(refused(['-vnc', '127.0.0.1:1,password=on'])).toEqual(['network=deny']);
    expect(refused(['-vnc', 'unix:/run/vnc.sock,websocket=5700'])).toEqual(['network=deny']);
    expect(refused(['-display', 'vnc=:0'])).toEqual(['network=deny']);
    expect(refused(['-vnc', 'unix:/x'])).toEqual([]);
    expect(refused(['-vnc', 'none'])).toEqual([]);
  });

  test('SPICE on TCP, not on a unix socket', () => {
    expect(refused(['-spice', 'port=5900,disable-ticketing=on'])).toEqual(['network=deny']);
    expect(refused(['-spice', 'tls-port=5901,x509-dir=/x'])).toEqual(['network=deny']);
    expect(refused(['-spice', 'unix=on,addr=/run/spice.sock,disable-ticketing=on'])).toEqual([]);
  });

  test('tcp/udp/telnet/websocket chardevs, -serial/-monitor/-qmp strings', () => {
    expect(
      refused(['-chardev', 'socket,id=c,host=127.0.0.1,port=4444,server=on,wait=off']),
    ).toEqual(['network=deny']);
    expect(refused(['-chardev', 'socket,id=c,port=4444,server=on,telnet=on'])).toEqual([
      'network=deny',
    ]);
    expect(refused(['-chardev', 'udp,id=c,host=h,port=1'])).toEqual(['network=deny']);
    expect(refused(['-serial', 'tcp::4444,server=on,wait=off'])).toEqual(['network=deny']);
    expect(refused(['-serial', 'mon:telnet::4444,server,nowait'])).toEqual(['network=deny']);
    expect(refused(['-serial', 'udp::4555@:4556'])).toEqual(['network=deny']);
    expect(refused(['-qmp', 'tcp:localhost:4444,server=on,wait=off'])).toEqual(['network=deny']);
    expect(refused(['-monitor', 'tcp:localhost:4445,server,nowait'])).toEqual(['network=deny']);
    expect(refused(['-monitor', 'websocket::5555,server'])).toEqual(['network=deny']);
    expect(refused(['-chardev', 'socket,id=c,path=/run/qmp.sock,server=on,wait=off'])).toEqual([]);
    expect(refused(['-chardev', 'socket,id=c,fd=7,server=on,wait=off'])).toEqual([]);
    expect(refused(['-qmp', 'unix:/run/qmp.sock,server=on,wait=off'])).toEqual([]);
    expect(refused(['-serial', 'mon:stdio'])).toEqual([]);
    expect(refused(['-chardev', 'pty,id=s'])).toEqual([]);
  });

  test('-gdb and -s', () => {
    expect(refused(['-s'])).toEqual(['network=deny']);
    expect(refused(['-gdb', 'tcp::1234'])).toEqual(['network=deny']);
    expect(refused(['-gdb', '1234'])).toEqual(['network=deny']);
    expect(refused(['-gdb', 'unix:/run/gdb.sock,server=on,wait=off'])).toEqual([]);
    expect(refused(['-S'])).toEqual([]); // -S (stopped at start) is not -s
  });

  test('network block devices: URLs in -drive file= and legacy disk options, -blockdev drivers', () => {
    for (const file of [
      'nbd://host/export',
      'nbd:localhost:10809',
      'http://example.org/disk.iso',
      'https://example.org/disk.iso',
      'ftp://example.org/disk.iso',
      'iscsi://10.0.0.1/iqn.2001-04.com.example:storage/1',
      'ssh://user@host/path',
      'rbd:pool/image',
    ]) {
      expect([file, refused(['-drive', `file=${file},if=virtio`])]).toEqual([
        file,
        ['network=deny'],
      ]);
    }
    expect(refused(['-cdrom', 'https://example.org/x.iso'])).toEqual(['network=deny']);
    expect(refused(['-hda', 'nbd://h/e'])).toEqual(['network=deny']);
    expect(refused(['nbd://h/e'])).toEqual(['network=deny']); // positional image
    expect(
      refused(['-drive', 'driver=nbd,server.type=inet,server.host=h,server.port=10809']),
    ).toEqual(['network=deny']);
    expect(
      refused(['-blockdev', 'driver=iscsi,node-name=d,transport=tcp,portal=h,target=t']),
    ).toEqual(['network=deny']);
    expect(
      refused([
        '-blockdev',
        '{"driver":"qcow2","node-name":"q","file":{"driver":"http","url":"http://h/x"}}',
      ]),
    ).toEqual(['network=deny']);
    expect(
      refused(['-drive', 'file=json:{"driver":"nbd",,"server":{"type":"inet",,"host":"h"}}']),
    ).toEqual(['network=deny']);
    // Local files and unix-socket exports are fine.
    expect(refused(['-drive', 'file=/var/lib/images/vm.qcow2,if=virtio'])).toEqual([]);
    expect(refused(['-drive', 'file=nbd+unix:///export?socket=/run/nbd.sock'])).toEqual([]);
    expect(refused(['-drive', 'file=nbd:unix:/run/nbd.sock'])).toEqual([]);
    expect(
      refused(['-blockdev', 'driver=nbd,node-name=n,server.type=unix,server.path=/run/nbd']),
    ).toEqual([]);
    expect(
      refused(['-blockdev', '{"driver":"file","filename":"/x/http:y.img","node-name":"f"}']),
    ).toEqual([]);
    expect(refused(['http.img'])).toEqual([]);
  });

  test('-incoming tcp: and rdma:, not unix: or fd:', () => {
    expect(refused(['-incoming', 'tcp:0:4444'])).toEqual(['network=deny']);
    expect(refused(['-incoming', 'rdma:192.168.0.1:4444'])).toEqual(['network=deny']);
    expect(
      refused([
        '-incoming',
        '{"channel-type":"main","addr":{"transport":"socket","type":"inet","host":"h","port":"1"}}',
      ]),
    ).toEqual(['network=deny']);
    expect(refused(['-incoming', 'unix:/run/mig.sock'])).toEqual([]);
    expect(refused(['-incoming', 'fd:9'])).toEqual([]);
  });

  test('network=allow leaves all of these alone', () => {
    const args = [
      '-nic',
      'user',
      '-vnc',
      ':0',
      '-s',
      '-serial',
      'tcp::1,server',
      '-drive',
      'file=nbd://h/e',
    ];
    expect(preflight(args, ALLOW, noFiles)).toEqual([]);
    expect(preflight(args, NET, noFiles).length).toBe(5);
  });
});

describe('policies and reports', () => {
  test('-sandbox off: no filter, no findings', () => {
    expect(
      preflight(
        ['-daemonize', '-nic', 'user'],
        policy({ enable: false, spawn: 'deny', network: 'deny' }),
        noFiles,
      ),
    ).toEqual([]);
  });

  test("libvirt's default string with a typical libvirt command line: no refusal", () => {
    const libvirt = policy({
      obsolete: 'deny',
      elevatePrivileges: 'deny',
      spawn: 'deny',
      resourceControl: 'deny',
    });
    const argv = [
      '-name',
      'guest=vm1,debug-threads=on',
      '-S',
      '-object',
      '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-1-vm1/master-key.aes"}',
      '-machine',
      'pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram',
      '-accel',
      'kvm',
      '-cpu',
      'host,migratable=on',
      '-m',
      'size=1048576k',
      '-object',
      '{"qom-type":"thread-context","id":"tc-pc.ram","node-affinity":[0]}',
      '-object',
      '{"qom-type":"memory-backend-ram","id":"pc.ram","size":1073741824,"prealloc":true,"prealloc-context":"tc-pc.ram"}',
      '-overcommit',
      'mem-lock=off',
      '-smp',
      '2,sockets=2,cores=1,threads=1',
      '-uuid',
      'c7a5fdbd-edaf-9455-926a-d65c16db1809',
      '-no-user-config',
      '-nodefaults',
      '-chardev',
      'socket,id=charmonitor,fd=31,server=on,wait=off',
      '-mon',
      'chardev=charmonitor,id=monitor,mode=control',
      '-rtc',
      'base=utc,driftfix=slew',
      '-global',
      'kvm-pit.lost_tick_policy=delay',
      '-no-shutdown',
      '-boot',
      'strict=on',
      '-blockdev',
      '{"driver":"file","filename":"/var/lib/libvirt/images/vm1.qcow2","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}',
      '-blockdev',
      '{"node-name":"libvirt-1-format","read-only":false,"driver":"qcow2","file":"libvirt-1-storage"}',
      '-device',
      '{"driver":"virtio-blk-pci","bus":"pci.3","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1}',
      '-netdev',
      'tap,fd=24,vhost=on,vhostfd=26,id=hostnet0',
      '-netdev',
      '{"type":"tap","fd":"27","vhost":true,"vhostfd":"28","id":"hostnet1"}',
      '-device',
      '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:12:34:56","bus":"pci.1","addr":"0x0"}',
      '-chardev',
      'pty,id=charserial0',
      '-device',
      '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}',
      '-audiodev',
      '{"id":"audio1","driver":"none"}',
      '-vnc',
      'unix:/var/lib/libvirt/qemu/domain-1-vm1/vnc.sock,audiodev=audio1',
      '-device',
      '{"driver":"virtio-balloon-pci","id":"balloon0","bus":"pci.4","addr":"0x0"}',
      '-msg',
      'timestamp=on',
    ];
    const ctx: PreflightContext = { noNewPrivs: true, fileExists: () => true };
    expect(preflight(argv, libvirt, ctx)).toEqual([]);
    // The same VM with network=deny as well still passes: nothing above uses IP.
    expect(preflight(argv, { ...libvirt, network: 'deny' }, ctx)).toEqual([]);
  });

  test('findings name the argument, the setting, the message and the fix', () => {
    const [f] = run(['-netdev', 'bridge,id=n0,br=br0'], SPAWN);
    expect(f).toEqual({
      arg: '-netdev bridge,id=n0,br=br0',
      group: 'spawn',
      setting: 'spawn=deny',
      message: expect.stringMatching(/qemu-bridge-helper/),
      fix: 'use spawn=allow, or pass a pre-opened tap fd with -netdev tap,fd=N',
    });
  });

  test('preflightReport: one line per finding, then what happens', () => {
    const f = run(['-daemonize', '-incoming', 'exec:cat x'], SPAWN);
    const enforce = preflightReport(f, 'enforce');
    expect(enforce).toHaveLength(3);
    expect(enforce[0]).toMatch(
      /^qemu-sandboxed: preflight refused: '-daemonize' \(spawn=deny\): .*; fix: /,
    );
    expect(enforce[2]).toBe(
      'qemu-sandboxed: not starting QEMU (2 preflight refusals); with preflight=warn in -sandbox QEMU starts, and these features fail at run time instead',
    );
    const warn = preflightReport(f, 'warn');
    expect(warn[1]).toMatch(
      /^qemu-sandboxed: preflight warning: '-incoming exec:cat x' \(spawn=deny\)/,
    );
    expect(warn[2]).toMatch(/starting anyway/);
    expect(preflightReport([], 'enforce')).toEqual([]);
    for (const line of [...enforce, ...warn]) expect(line).not.toMatch(/\n/);
  });
});

describe("libvirt's capability probe (-machine none -daemonize, no -sandbox)", () => {
  // What libvirt runs for every QEMU binary it finds (qemuProcessQMPLaunch).
  const PROBE = [
    '-S',
    '-no-user-config',
    '-nodefaults',
    '-nographic',
    '-machine',
    'none,accel=kvm:tcg',
    '-qmp',
    'unix:/var/lib/libvirt/qemu/capabilities.monitor.sock,server=on,wait=off',
    '-pidfile',
    '/var/lib/libvirt/qemu/capabilities.pidfile',
    '-daemonize',
  ];

  test('is recognised, and only with -machine none, -S, -qmp and -daemonize together', () => {
    expect(isLibvirtCapabilityProbe(PROBE)).toBe(true);
    expect(isLibvirtCapabilityProbe(['-M', 'none', '-S', '-qmp', 'stdio', '-daemonize'])).toBe(
      true,
    );
    expect(isLibvirtCapabilityProbe(PROBE.filter((a) => a !== '-daemonize'))).toBe(false);
    expect(isLibvirtCapabilityProbe(PROBE.filter((a) => a !== '-S'))).toBe(false);
    const pc = PROBE.map((a) => (a === 'none,accel=kvm:tcg' ? 'pc,accel=tcg' : a));
    expect(isLibvirtCapabilityProbe(pc)).toBe(false);
  });

  test('a site default with spawn=deny or elevateprivileges=deny: refused, naming the probe and the fix that works', () => {
    const findings = preflight(
      PROBE,
      policy({ spawn: 'deny', elevatePrivileges: 'deny' }),
      noFiles,
    );
    expect(settings(findings)).toEqual([
      '-daemonize | spawn=deny',
      '-daemonize | elevateprivileges=deny',
    ]);
    for (const f of findings) {
      expect(f.message).toMatch(
        /libvirt's capability probe .* gets no -sandbox, so the site default applies/,
      );
      expect(f.fix).toMatch(/out of the site default .* libvirt passes its own -sandbox/);
      expect(f.fix).toMatch(/preflight=warn would only move the failure to run time/);
    }
    expect(findings[1].fix).toMatch(/^take elevateprivileges=deny out/);
  });

  test('raised by the site minimum: the fix names the minimum, not the site default', () => {
    const findings = preflight(PROBE, policy({ spawn: 'deny', elevatePrivileges: 'deny' }), {
      ...noFiles,
      raisedByMinimum: new Set(['spawn']),
    });
    expect(findings[0].message).toMatch(/gets no -sandbox, so the site minimum applies$/);
    expect(findings[1].message).toMatch(/gets no -sandbox, so the site default applies$/);
    expect(findings[0].fix).toMatch(
      /^take spawn=deny out of the site minimum \("minimum" in the config file\)/,
    );
    expect(findings[1].fix).toMatch(
      /^take elevateprivileges=deny out of the site default \("sandbox" in the config file\)/,
    );
  });

  test('an ordinary -daemonize keeps the ordinary message; the probe under the default policy is not refused', () => {
    const [f] = preflight(['-daemonize', '-machine', 'pc'], SPAWN, noFiles);
    expect(f.message).not.toMatch(/libvirt/);
    expect(f.fix).toMatch(/^drop -daemonize/);
    expect(preflight(PROBE, policy({ obsolete: 'deny' }), noFiles)).toEqual([]);
    // With a -sandbox of its own it is not libvirt's probe (libvirt gives that one none).
    const [own] = preflight(PROBE, SPAWN, { ...noFiles, sandboxOnCommandLine: true });
    expect(own.message).not.toMatch(/libvirt/);
  });
});
