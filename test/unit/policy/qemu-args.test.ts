/** QEMU's argv as vl.c reads it: taking -sandbox out must not change anything else. */
import {
  QEMU_OPTIONS_WITHOUT_ARG,
  QEMU_OPTIONS_WITH_ARG,
  SandboxOptionError,
  extractSandbox,
  isKnownQemuOption,
  parseKeyValueList,
  parseQemuArgs,
  takesArgument,
} from '../../../src/policy';

describe('extractSandbox', () => {
  test('-sandbox and --sandbox with the value in the next argument', () => {
    expect(extractSandbox(['-m', '512', '-sandbox', 'on,spawn=deny', 'disk.img'])).toEqual({
      qemuArgs: ['-m', '512', 'disk.img'],
      sandboxValues: ['on,spawn=deny'],
    });
    expect(extractSandbox(['--sandbox', 'off', '-nographic'])).toEqual({
      qemuArgs: ['-nographic'],
      sandboxValues: ['off'],
    });
  });

  test('-sandbox=X and --sandbox=X (our joined form; = only splits the first one)', () => {
    expect(extractSandbox(['-sandbox=on', '--sandbox=spawn=deny', '-S'])).toEqual({
      qemuArgs: ['-S'],
      sandboxValues: ['on', 'spawn=deny'],
    });
    expect(extractSandbox(['-sandbox=']).sandboxValues).toEqual(['']);
  });

  test('several -sandbox keep their order; everything else is unchanged and in order', () => {
    const argv = [
      '-sandbox',
      'on',
      '-machine',
      'q35',
      '--sandbox=spawn=deny',
      '-drive',
      'file=a,,b.img,if=virtio',
      '-sandbox',
      'resourcecontrol=deny',
      '-S',
    ];
    expect(extractSandbox(argv)).toEqual({
      qemuArgs: ['-machine', 'q35', '-drive', 'file=a,,b.img,if=virtio', '-S'],
      sandboxValues: ['on', 'spawn=deny', 'resourcecontrol=deny'],
    });
  });

  test('a value-taking option owns the next argument, even "-sandbox"', () => {
    // -append's argument is the guest kernel command line.
    expect(extractSandbox(['-kernel', 'vmlinuz', '-append', '-sandbox', '-sandbox', 'on'])).toEqual(
      {
        qemuArgs: ['-kernel', 'vmlinuz', '-append', '-sandbox'],
        sandboxValues: ['on'],
      },
    );
    expect(extractSandbox(['--append', '--sandbox=off']).sandboxValues).toEqual([]);
    expect(extractSandbox(['-name', '-sandbox']).qemuArgs).toEqual(['-name', '-sandbox']);
    // A flag does not: the -sandbox after -S is ours.
    expect(extractSandbox(['-S', '-sandbox', 'on']).sandboxValues).toEqual(['on']);
  });

  test('the value of -sandbox may itself look like an option', () => {
    expect(extractSandbox(['-sandbox', '-S'])).toEqual({ qemuArgs: [], sandboxValues: ['-S'] });
  });

  test('a trailing -sandbox is refused like QEMU ("requires an argument")', () => {
    for (const flag of ['-sandbox', '--sandbox']) {
      let err: unknown;
      try {
        extractSandbox(['-m', '1G', flag]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SandboxOptionError);
      expect((err as SandboxOptionError).detail).toBe('requires an argument');
      expect((err as SandboxOptionError).message).toBe(`${flag}: requires an argument`);
    }
  });

  test('a trailing value-taking option other than -sandbox is left for QEMU to refuse', () => {
    expect(extractSandbox(['-sandbox', 'on', '-m'])).toEqual({
      qemuArgs: ['-m'],
      sandboxValues: ['on'],
    });
  });

  test('no -sandbox: the same array contents', () => {
    const argv = ['-enable-kvm', '-m', '2G', '-netdev', 'user,id=n0', 'disk.qcow2', '--', '-'];
    expect(extractSandbox(argv)).toEqual({ qemuArgs: argv, sandboxValues: [] });
  });

  test('look-alikes are not -sandbox', () => {
    const argv = ['-sandboxes', 'x', '-Sandbox', 'y', 'sandbox', '---sandbox', 'z'];
    expect(extractSandbox(argv)).toEqual({ qemuArgs: argv, sandboxValues: [] });
  });
});

describe('parseQemuArgs', () => {
  test('names without dashes, values, indexes, positional disk images', () => {
    expect(
      parseQemuArgs([
        '-m',
        '512',
        '--nographic',
        'disk.img',
        '-netdev',
        'user,id=n0,smb=/srv',
        '-sandbox=on',
        '-daemonize',
        '-append',
        '-s',
        '-gdb',
      ]),
    ).toEqual([
      { name: 'm', value: '512', index: 0 },
      { name: 'nographic', index: 2 },
      { name: 'hda', value: 'disk.img', index: 3, positional: true },
      { name: 'netdev', value: 'user,id=n0,smb=/srv', index: 4 },
      { name: 'sandbox', value: 'on', index: 6 },
      { name: 'daemonize', index: 7 },
      { name: 'append', value: '-s', index: 8 },
      { name: 'gdb', index: 10 },
    ]);
  });

  test('option names are case-sensitive: -S is a flag, -s a flag, -d/-D take values', () => {
    expect(
      parseQemuArgs(['-S', '-s', '-d', 'int', '-D', 'log.txt', '-L', '.', '-M', 'virt']),
    ).toEqual([
      { name: 'S', index: 0 },
      { name: 's', index: 1 },
      { name: 'd', value: 'int', index: 2 },
      { name: 'D', value: 'log.txt', index: 4 },
      { name: 'L', value: '.', index: 6 },
      { name: 'M', value: 'virt', index: 8 },
    ]);
  });
});

describe('the option table', () => {
  test('value-taking options from qemu-options.hx 7.2..10.x, spot checks', () => {
    for (const o of [
      'machine',
      'M',
      'cpu',
      'accel',
      'smp',
      'numa',
      'm',
      'k',
      'drive',
      'blockdev',
      'device',
      'netdev',
      'nic',
      'net',
      'chardev',
      'serial',
      'monitor',
      'qmp',
      'qmp-pretty',
      'mon',
      'kernel',
      'append',
      'initrd',
      'dtb',
      'bios',
      'pflash',
      'incoming',
      'object',
      'run-with',
      'runas',
      'chroot',
      'watchdog',
      'audio',
      'audiodev',
      'spice',
      'vnc',
      'display',
      'gdb',
      'fsdev',
      'virtfs',
      'iscsi',
      'tpmdev',
      'plugin',
      'trace',
      'readconfig',
      'sandbox',
      'add-fd',
      'overcommit',
      'icount',
      'rtc',
      'compat',
      'action',
      'xen-domid',
      'g',
      'prom-env',
      'semihosting-config',
      'dump-vmstate',
      'qtest',
      'qtest-log',
      'msg',
      'shim',
      'fw_cfg',
    ]) {
      expect(takesArgument(o)).toBe(true);
    }
  });

  test('flags take no value', () => {
    for (const o of [
      'S',
      's',
      'nographic',
      'daemonize',
      'snapshot',
      'enable-kvm',
      'no-reboot',
      'no-shutdown',
      'nodefaults',
      'preconfig',
      'only-migratable',
      'no-user-config',
      'mem-prealloc',
      'usb',
      'full-screen',
      'xen-attach',
      'semihosting',
      'version',
      'help',
      'h',
    ]) {
      expect(takesArgument(o)).toBe(false);
      expect(isKnownQemuOption(o)).toBe(true);
    }
    expect(isKnownQemuOption('definitely-not-qemu')).toBe(false);
  });

  test('the two tables do not overlap', () => {
    for (const o of QEMU_OPTIONS_WITH_ARG) expect(QEMU_OPTIONS_WITHOUT_ARG.has(o)).toBe(false);
  });
});

describe('parseKeyValueList', () => {
  test('implied key, ,, escapes, flags and no-flags', () => {
    expect(parseKeyValueList('user,id=n0,hostfwd=tcp::22-:22,smb=/a,,b,ipv6', 'type')).toEqual([
      { key: 'type', value: 'user' },
      { key: 'id', value: 'n0' },
      { key: 'hostfwd', value: 'tcp::22-:22' },
      { key: 'smb', value: '/a,b' },
      { key: 'ipv6', value: 'on', flag: true },
    ]);
    expect(parseKeyValueList('socket,server,nowait,host=0.0.0.0', 'backend')).toEqual([
      { key: 'backend', value: 'socket' },
      { key: 'server', value: 'on', flag: true },
      { key: 'wait', value: 'off', flag: true },
      { key: 'host', value: '0.0.0.0' },
    ]);
  });

  test('without an implied key the first bare item is a flag', () => {
    expect(parseKeyValueList('server,port=4444')).toEqual([
      { key: 'server', value: 'on', flag: true },
      { key: 'port', value: '4444' },
    ]);
    expect(parseKeyValueList('')).toEqual([]);
    // QEMU's own special case: nodelay is delay=off (hence its "use nodelay=" hint).
    expect(parseKeyValueList('tcp::4444,nodelay', 'backend')[1]).toEqual({
      key: 'delay',
      value: 'off',
      flag: true,
    });
  });

  test('an implied first value keeps its escaped commas', () => {
    expect(parseKeyValueList('a,,b,x=1', 'file')).toEqual([
      { key: 'file', value: 'a,b' },
      { key: 'x', value: '1' },
    ]);
  });

  test('the JSON form is flattened to dotted keys (libvirt passes -netdev/-blockdev as JSON)', () => {
    expect(
      parseKeyValueList(
        '{"type":"stream","id":"n1","server":false,"addr":{"type":"inet","host":"10.0.0.1","port":"5555"},"fds":[3,4]}',
      ),
    ).toEqual([
      { key: 'type', value: 'stream' },
      { key: 'id', value: 'n1' },
      { key: 'server', value: 'off' },
      { key: 'addr.type', value: 'inet' },
      { key: 'addr.host', value: '10.0.0.1' },
      { key: 'addr.port', value: '5555' },
      { key: 'fds.0', value: '3' },
      { key: 'fds.1', value: '4' },
    ]);
    expect(() => parseKeyValueList('{"type":')).toThrow(/invalid JSON option value/);
  });
});
