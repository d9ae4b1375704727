/**
 * files=deny's plan (src/launch/files.ts): which paths a QEMU command line
 * gets, with which Landlock rights, and which command lines are refused. On
 * an in-memory filesystem: the real one is the kernel tests' business.
 */
import { FS } from '../../../src/launch/landlock-plan';
import {
  ETC_SECRETS,
  accessWords,
  extraFiles,
  parseReadconfig,
  planFiles,
  type FilesInput,
  type FilesPlan,
} from '../../../src/launch/files';
import { fakeHost, qcow2Header, type FakeFs } from '../../helpers/fake-files';

const QEMU = '/usr/bin/qemu-system-x86_64';

function input(fs: FakeFs, over: Partial<FilesInput> = {}): FilesInput {
  return { cwd: '/vm', env: {}, binary: QEMU, pid: 4242, extras: [], facts: fs.facts, ...over };
}

/** The rule on `path` in words, or undefined when there is none. */
function rule(plan: FilesPlan, path: string): string | undefined {
  const r = plan.rules.find((x) => x.path === path);
  return r === undefined ? undefined : accessWords(r.access);
}

function host(): FakeFs {
  const fs = fakeHost();
  fs.add('/vm', 'dir');
  return fs;
}

describe('the system part', () => {
  test('libraries read and execute, /etc without its secrets, /proc and /sys read-only, standard devices', () => {
    const fs = host();
    const p = planFiles([], input(fs));
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/usr')).toBe('read,list,exec');
    expect(rule(p, '/lib')).toBe('read,list,exec');
    expect(rule(p, '/lib64')).toBe('read,list,exec');
    expect(rule(p, '/proc')).toBe('read,list');
    expect(rule(p, '/sys')).toBe('read,list');
    expect(rule(p, '/etc/passwd')).toBe('read');
    expect(rule(p, '/etc/qemu')).toBe('read,list');
    expect(rule(p, '/etc')).toBe('list');
    expect(rule(p, '/etc/shadow')).toBeUndefined();
    // /etc/ssl is entered to leave out its private keys, not granted whole.
    expect(rule(p, '/etc/ssl')).toBeUndefined();
    expect(rule(p, '/etc/ssl/certs')).toBe('read,list');
    expect(rule(p, '/etc/ssl/private')).toBeUndefined();
    expect(rule(p, '/dev/null')).toBe('read,write');
    expect(rule(p, '/dev/urandom')).toBe('read');
    expect(rule(p, '/dev/ptmx')).toBe('read,write,ioctl');
    expect(rule(p, QEMU)).toBe('read,exec');
    // Nothing else: no tun, no kvm, no pts without a pty, no /tmp.
    for (const path of ['/dev/net/tun', '/dev/kvm', '/dev/pts', '/tmp', '/var/tmp', '/vm']) {
      expect([path, rule(p, path)]).toEqual([path, undefined]);
    }
    expect(ETC_SECRETS).toContain('shadow');
  });

  test('no rule on a path that does not exist (Landlock names existing files)', () => {
    const fs = host();
    const p = planFiles(['-kernel', '/vm/missing-kernel'], input(fs));
    expect(p.rules.some((r) => r.path.startsWith('/vm'))).toBe(false);
    expect(p.refusals).toEqual([]);
  });
});

describe('disks', () => {
  test('-drive read-write; readonly=on, media=cdrom, -cdrom read-only; relative to the cwd', () => {
    const fs = host();
    for (const f of ['a.raw', 'b.raw', 'c.iso', 'd.iso', 'e.raw']) fs.add(`/vm/${f}`, 'file');
    const p = planFiles(
      [
        '-drive',
        'file=a.raw,format=raw,if=virtio',
        '-drive',
        'file=/vm/b.raw,format=raw,readonly=on',
        '-drive',
        'file=/vm/c.iso,media=cdrom',
        '-cdrom',
        '/vm/d.iso',
        '/vm/e.raw',
      ],
      input(fs),
    );
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/vm/a.raw')).toBe('read,write,truncate');
    expect(rule(p, '/vm/b.raw')).toBe('read');
    expect(rule(p, '/vm/c.iso')).toBe('read');
    expect(rule(p, '/vm/d.iso')).toBe('read');
    expect(rule(p, '/vm/e.raw')).toBe('read,write,truncate');
  });

  test('snapshot=on and -snapshot: the image read-only, the overlay directory ($TMPDIR or /var/tmp) for scratch files', () => {
    const fs = host();
    fs.add('/vm/a.raw', 'file');
    fs.add('/scratch', 'dir');
    const one = planFiles(['-drive', 'file=/vm/a.raw,format=raw,snapshot=on'], input(fs));
    expect(rule(one, '/vm/a.raw')).toBe('read');
    expect(rule(one, '/var/tmp')).toBe('read,write,truncate,make-file,remove');
    const all = planFiles(
      ['-snapshot', '-hda', '/vm/a.raw'],
      input(fs, { env: { TMPDIR: '/scratch' } }),
    );
    expect(rule(all, '/vm/a.raw')).toBe('read');
    expect(rule(all, '/scratch')).toBe('read,write,truncate,make-file,remove');
    expect(rule(all, '/var/tmp')).toBeUndefined();
  });

  test('a host block device gets ioctl', () => {
    const fs = host();
    fs.add('/dev/sdb', 'device');
    const p = planFiles(
      ['-blockdev', 'driver=host_device,filename=/dev/sdb,node-name=d0'],
      input(fs),
    );
    expect(rule(p, '/dev/sdb')).toBe('read,write,ioctl');
  });

  test("libvirt's -blockdev chain: the backing read-only, the overlay read-write, no header read for either", () => {
    const fs = host();
    // Headers that would be refused if they were read: the chain is explicit.
    fs.add('/vm/base.qcow2', 'file', qcow2Header({ backing: '/etc/shadow' }));
    fs.add(
      '/vm/top.qcow2',
      'file',
      qcow2Header({ backing: '/vm/base.qcow2', dataFile: '/etc/passwd' }),
    );
    const p = planFiles(
      [
        '-blockdev',
        '{"driver":"file","filename":"/vm/base.qcow2","node-name":"libvirt-2-storage","auto-read-only":true,"discard":"unmap"}',
        '-blockdev',
        '{"node-name":"libvirt-2-format","read-only":true,"driver":"qcow2","file":"libvirt-2-storage","backing":null}',
        '-blockdev',
        '{"driver":"file","filename":"/vm/top.qcow2","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}',
        '-blockdev',
        '{"node-name":"libvirt-1-format","read-only":false,"driver":"qcow2","file":"libvirt-1-storage","backing":"libvirt-2-format","data-file":null}',
        '-device',
        'virtio-blk-pci,drive=libvirt-1-format',
      ],
      input(fs),
    );
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/vm/base.qcow2')).toBe('read');
    expect(rule(p, '/vm/top.qcow2')).toBe('read,write,truncate');
    expect(rule(p, '/etc/shadow')).toBeUndefined();
  });

  test('a backing file only the header names is refused, naming the file and the argument that allows it', () => {
    const fs = host();
    fs.add('/vm/base.qcow2', 'file', qcow2Header({}));
    fs.add('/vm/top.qcow2', 'file', qcow2Header({ backing: 'base.qcow2', backingFormat: 'qcow2' }));
    const p = planFiles(['-drive', 'file=/vm/top.qcow2,if=virtio'], input(fs));
    expect(p.refusals).toHaveLength(1);
    expect(p.refusals[0]).toMatchObject({ arg: '-drive file=/vm/top.qcow2,if=virtio' });
    expect(p.refusals[0].message).toContain(
      '/vm/top.qcow2 names /vm/base.qcow2 as its backing file, in its header',
    );
    expect(p.refusals[0].fix).toContain('add backing.file.filename=/vm/base.qcow2 to it');
    expect(p.refusals[0].fix).toContain(`QEMU_SANDBOXED_FILES='ro:/vm/base.qcow2'`);

    // Named in the option: read-only, and its own header is read in turn.
    const named = planFiles(
      ['-drive', 'file=/vm/top.qcow2,if=virtio,backing.file.filename=/vm/base.qcow2'],
      input(fs),
    );
    expect(named.refusals).toEqual([]);
    expect(rule(named, '/vm/base.qcow2')).toBe('read');
    expect(rule(named, '/vm/top.qcow2')).toBe('read,write,truncate');

    // Allowed as an extra path, or named as another (read-only) disk: read-only.
    const extra = planFiles(['-drive', 'file=/vm/top.qcow2'], {
      ...input(fs),
      extras: [{ path: '/vm', access: 'ro', origin: 'test' }],
    });
    expect(extra.refusals).toEqual([]);
    expect(rule(extra, '/vm/base.qcow2')).toBe('read');
  });

  test('a chain of headers: every link must be allowed; a loop ends', () => {
    const fs = host();
    fs.add('/vm/a.qcow2', 'file', qcow2Header({ backing: 'b.qcow2' }));
    fs.add('/vm/b.qcow2', 'file', qcow2Header({ backing: 'c.qcow2' }));
    fs.add('/vm/c.qcow2', 'file', qcow2Header({ backing: 'a.qcow2' }));
    const p = planFiles(['-drive', 'file=/vm/a.qcow2'], {
      ...input(fs),
      extras: [
        { path: '/vm/b.qcow2', access: 'ro', origin: 'test' },
        { path: '/vm/c.qcow2', access: 'ro', origin: 'test' },
      ],
    });
    // a names b (allowed), b names c (allowed), c names a (named on the command line).
    expect(p.refusals).toEqual([]);
    const partial = planFiles(['-drive', 'file=/vm/a.qcow2'], {
      ...input(fs),
      extras: [{ path: '/vm/b.qcow2', access: 'ro', origin: 'test' }],
    });
    expect(partial.refusals.map((r) => r.message)).toEqual([
      expect.stringContaining('/vm/b.qcow2 names /vm/c.qcow2 as its backing file'),
    ]);
    expect(partial.refusals[0].fix).toContain('backing.backing.file.filename=/vm/c.qcow2');
  });

  test('a data file the header points at a host file: refused; allowed only with the access it needs', () => {
    const fs = host();
    fs.add('/vm/evil.qcow2', 'file', qcow2Header({ dataFile: '/etc/passwd' }));
    const p = planFiles(['-drive', 'file=/vm/evil.qcow2,format=qcow2'], input(fs));
    expect(p.refusals.map((r) => r.message)).toEqual([
      expect.stringContaining(
        '/vm/evil.qcow2 names /etc/passwd as its external data file, in its header',
      ),
    ]);
    expect(p.refusals[0].fix).toContain('data-file.driver=file,data-file.filename=/etc/passwd');
    // /etc is readable, but being readable does not make a path "named".
    const ro = planFiles(['-drive', 'file=/vm/evil.qcow2,format=qcow2'], {
      ...input(fs),
      extras: [{ path: '/etc/passwd', access: 'ro', origin: 'test' }],
    });
    expect(ro.refusals).toHaveLength(1);
    const readonly = planFiles(['-drive', 'file=/vm/evil.qcow2,format=qcow2,readonly=on'], {
      ...input(fs),
      extras: [{ path: '/etc/passwd', access: 'ro', origin: 'test' }],
    });
    expect(readonly.refusals).toEqual([]);
    // Relative data file names: refused (QEMU versions differ on what they are relative to).
    fs.add('/vm/rel.qcow2', 'file', qcow2Header({ dataFile: 'data.raw' }));
    expect(planFiles(['-drive', 'file=/vm/rel.qcow2'], input(fs)).refusals[0].message).toContain(
      'relative data file',
    );
    // Given on the command line: the header is not consulted.
    fs.add('/vm/data.raw', 'file');
    const given = planFiles(
      ['-drive', 'file=/vm/rel.qcow2,data-file.driver=file,data-file.filename=/vm/data.raw'],
      input(fs),
    );
    expect(given.refusals).toEqual([]);
    expect(rule(given, '/vm/data.raw')).toBe('read,write,truncate');
  });

  test('image headers that are not plain paths, formats that cannot be read, unknown drivers', () => {
    const fs = host();
    fs.add(
      '/vm/json.qcow2',
      'file',
      qcow2Header({ backing: 'json:{"driver":"file","filename":"/etc/shadow"}' }),
    );
    fs.add('/vm/nbd.qcow2', 'file', qcow2Header({ backing: 'nbd://evil/' }));
    const vmdk = Buffer.alloc(512);
    vmdk.write('KDMV');
    fs.add('/vm/disk.vmdk', 'file', vmdk);
    const refused = (args: string[]): string =>
      planFiles(args, input(fs))
        .refusals.map((r) => r.message)
        .join(' | ');
    expect(refused(['-drive', 'file=/vm/json.qcow2'])).toContain('a json: name, not a plain path');
    expect(refused(['-drive', 'file=/vm/nbd.qcow2'])).toContain('a nbd: name, not a plain path');
    expect(refused(['-drive', 'file=/vm/disk.vmdk'])).toContain('is a vmdk image');
    expect(
      refused([
        '-blockdev',
        'driver=vmdk,file.driver=file,file.filename=/vm/disk.vmdk,node-name=x',
      ]),
    ).toContain('a vmdk image names its other files');
    expect(
      refused(['-blockdev', 'driver=blkdebug,image.driver=file,image.filename=/vm/x,node-name=x']),
    ).toContain('block driver blkdebug');
    expect(refused(['-drive', 'file=blkdebug:/vm/conf:/vm/x'])).toContain(
      'protocol prefix blkdebug:',
    );
    expect(refused(['-drive', 'file=json:{"driver":"qcow2"'])).toContain(
      'not a JSON object (inside -drive, each comma is written twice: ,,)',
    );
    // A truncated qcow2 header.
    fs.add('/vm/short.qcow2', 'file', qcow2Header({}).subarray(0, 40));
    expect(refused(['-drive', 'file=/vm/short.qcow2,format=qcow2'])).toContain(
      'qcow2 header is truncated',
    );
  });

  test('json: filenames (commas doubled in -drive) and network disks', () => {
    const fs = host();
    fs.add('/vm/a.qcow2', 'file', qcow2Header({}));
    const p = planFiles(
      [
        '-drive',
        'file=json:{"driver":"qcow2",,"file":{"driver":"file",,"filename":"/vm/a.qcow2"}},if=virtio',
        '-drive',
        'file=nbd:unix:/run/nbd.sock,format=raw',
        '-blockdev',
        'driver=nbd,server.type=inet,server.host=h,server.port=1,export=e,node-name=n',
      ],
      input(fs),
    );
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/vm/a.qcow2')).toBe('read,write,truncate');
    // A qcow2 on NBD whose header cannot be read and whose chain is not given.
    const q = planFiles(
      [
        '-blockdev',
        'driver=qcow2,file.driver=nbd,file.server.type=inet,file.server.host=h,file.server.port=1,node-name=q',
      ],
      input(fs),
    );
    expect(q.refusals[0].message).toContain(
      'cannot read the header of a qcow2 image that is not a local file',
    );
    const q2 = planFiles(
      [
        '-blockdev',
        'driver=qcow2,file.driver=nbd,file.server.type=inet,file.server.host=h,file.server.port=1,backing=,data-file=,node-name=q',
      ],
      input(fs),
    );
    expect(q2.refusals).toEqual([]);
  });
});

describe('files QEMU creates, sockets, devices', () => {
  test('a missing pidfile is made by the launcher and granted alone; a log too; the directory is not', () => {
    const fs = host();
    const p = planFiles(['-pidfile', '/vm/qemu.pid', '-D', '/vm/qemu-%d.log'], input(fs));
    expect(p.prepare).toEqual([
      { kind: 'create', path: '/vm/qemu.pid', mode: 0o600 },
      { kind: 'create', path: '/vm/qemu-4242.log', mode: 0o666 },
    ]);
    expect(rule(p, '/vm/qemu.pid')).toBe('write,truncate');
    expect(rule(p, '/vm/qemu-4242.log')).toBe('write,truncate');
    expect(rule(p, '/vm')).toBeUndefined();
    // An existing one is granted as it is, nothing to make.
    fs.add('/vm/qemu.pid', 'file');
    const again = planFiles(['-pidfile', '/vm/qemu.pid'], input(fs));
    expect(again.prepare).toEqual([]);
    expect(rule(again, '/vm/qemu.pid')).toBe('write,truncate');
  });

  test('listening unix sockets: make-sock on the directory; a stale socket is removed first; a file in the way is refused', () => {
    const fs = host();
    fs.add('/run/vm', 'dir');
    fs.add('/run/vm/old.sock', 'socket');
    fs.add('/run/vm/file', 'file');
    const p = planFiles(
      [
        '-qmp',
        'unix:/run/vm/qmp.sock,server=on,wait=off',
        '-chardev',
        'socket,id=c,path=/run/vm/old.sock,server=on,wait=off',
        '-chardev',
        'socket,id=client,path=/run/elsewhere/x.sock',
        '-monitor',
        'unix:/run/vm/file,server,nowait',
      ],
      input(fs),
    );
    expect(rule(p, '/run/vm')).toBe('make-sock');
    expect(rule(p, '/run/elsewhere')).toBeUndefined();
    expect(p.prepare).toEqual([{ kind: 'remove-stale', path: '/run/vm/old.sock', type: 'socket' }]);
    expect(p.refusals.map((r) => r.message)).toEqual([
      '/run/vm/file exists and is not a socket: QEMU would delete it to make its socket there',
    ]);
  });

  test('KVM, tap, vhost, pty: the devices the configuration needs, and only those', () => {
    const fs = host();
    fs.add('/etc/qemu-ifup', 'file');
    const p = planFiles(
      [
        '-machine',
        'q35,accel=kvm:tcg',
        '-netdev',
        'tap,id=n0,vhost=on',
        '-netdev',
        'tap,id=n1,fd=3,vhost=on,vhostfd=4',
        '-serial',
        'pty',
      ],
      input(fs),
    );
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/dev/kvm')).toBe('read,write,ioctl');
    expect(rule(p, '/dev/net/tun')).toBe('read,write,ioctl');
    expect(rule(p, '/dev/vhost-net')).toBe('read,write,ioctl');
    expect(rule(p, '/dev/pts')).toBe('read,write,ioctl');
    // The default ifup script exists and runs.
    expect(rule(p, '/etc/qemu-ifup')).toBe('read,exec');
    const fdOnly = planFiles(['-netdev', 'tap,id=n1,fd=3', '-accel', 'tcg'], input(fs));
    expect(rule(fdOnly, '/dev/net/tun')).toBeUndefined();
    expect(rule(fdOnly, '/dev/kvm')).toBeUndefined();
    expect(rule(planFiles(['-enable-kvm'], input(fs)), '/dev/kvm')).toBe('read,write,ioctl');
    // No accelerator named: TCG first, unless QEMU's name ends in kvm.
    expect(rule(planFiles([], input(fs)), '/dev/kvm')).toBeUndefined();
    expect(rule(planFiles([], input(fs, { binary: '/usr/bin/kvm' })), '/dev/kvm')).toBe(
      'read,write,ioctl',
    );
  });

  test('kernel, initrd, firmware, 9p, memory files, secrets, TLS, migration', () => {
    const fs = host();
    for (const f of ['vmlinuz', 'initrd', 'OVMF_CODE.fd', 'key', 'in.mig', 'dtb', 'rom.bin']) {
      fs.add(`/vm/${f}`, 'file');
    }
    fs.add('/vm/share', 'dir');
    fs.add('/vm/ro-share', 'dir');
    fs.add('/dev/hugepages', 'dir');
    fs.add('/etc/pki/qemu', 'dir');
    const p = planFiles(
      [
        '-kernel',
        'vmlinuz',
        '-initrd',
        '/vm/initrd',
        '-dtb',
        '/vm/dtb',
        '-bios',
        '/vm/OVMF_CODE.fd',
        '-device',
        'e1000,romfile=rom.bin',
        '-virtfs',
        'local,path=/vm/share,mount_tag=s,security_model=mapped-xattr',
        '-fsdev',
        'local,id=f,path=/vm/ro-share,security_model=none,readonly=on',
        '-object',
        'memory-backend-file,id=m,size=1G,mem-path=/dev/hugepages,share=on',
        '-object',
        'secret,id=s,file=/vm/key',
        '-object',
        'tls-creds-x509,id=t,dir=/etc/pki/qemu,endpoint=server',
        '-incoming',
        'file:/vm/in.mig',
      ],
      input(fs),
    );
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/vm/vmlinuz')).toBe('read');
    expect(rule(p, '/vm/initrd')).toBe('read');
    expect(rule(p, '/vm/dtb')).toBe('read');
    expect(rule(p, '/vm/OVMF_CODE.fd')).toBe('read');
    expect(rule(p, '/vm/rom.bin')).toBe('read');
    expect(rule(p, '/vm/share')).toBe(
      'read,list,exec,write,truncate,make-file,make-dir,make-sock,make-fifo,make-sym,remove,remove-dir,refer',
    );
    expect(rule(p, '/vm/ro-share')).toBe('read,list');
    expect(rule(p, '/dev/hugepages')).toBe('read,write,truncate,make-file,remove');
    expect(rule(p, '/vm/key')).toBe('read');
    expect(rule(p, '/etc/pki/qemu')).toBe('read,list');
    expect(rule(p, '/vm/in.mig')).toBe('read');
  });

  test('what files=deny cannot serve is refused: GUIs, smb=, chroot, -set, unknown objects and options', () => {
    const fs = host();
    const refused = (args: string[]): string[] =>
      planFiles(args, input(fs)).refusals.map((r) => r.arg);
    expect(refused(['-display', 'gtk'])).toEqual(['-display gtk']);
    expect(refused(['-netdev', 'user,id=n,smb=/srv'])).toEqual(['-netdev user,id=n,smb=/srv']);
    expect(refused(['-chroot', '/srv'])).toEqual(['-chroot /srv']);
    expect(refused(['-run-with', 'chroot=/srv'])).toEqual(['-run-with chroot=/srv']);
    expect(refused(['-set', 'drive.d0.file=/etc/shadow'])).toEqual([
      '-set drive.d0.file=/etc/shadow',
    ]);
    expect(refused(['-object', 'x-new-thing,id=x'])).toEqual(['-object x-new-thing,id=x']);
    expect(refused(['-chardev', 'x-new,id=x'])).toEqual(['-chardev x-new,id=x']);
    expect(refused(['-audiodev', 'pa,id=a'])).toEqual(['-audiodev pa,id=a']);
    expect(
      refused(['-display', 'none', '-vnc', 'unix:/vm/vnc.sock', '-audiodev', 'none,id=a']),
    ).toEqual([]);
  });

  test('-readconfig: the file is read, and the options it holds are served like the command line', () => {
    const fs = host();
    fs.add('/vm/disk.raw', 'file');
    fs.add(
      '/vm/vm.cfg',
      'file',
      Buffer.from(
        '# a config\n[drive "d0"]\n  file = "/vm/disk.raw"\n  format = "raw"\n\n[chardev "c"]\n  backend = "socket"\n  path = "/vm/c.sock"\n  server = "on"\n',
      ),
    );
    const p = planFiles(['-readconfig', '/vm/vm.cfg'], input(fs));
    expect(p.refusals).toEqual([]);
    expect(rule(p, '/vm/vm.cfg')).toBe('read');
    expect(rule(p, '/vm/disk.raw')).toBe('read,write,truncate');
    expect(rule(p, '/vm')).toBe('make-sock');
    expect(parseReadconfig('[weird]\n')).toEqual({
      refuse: 'the config file has a [weird] section, which files=deny does not read',
    });
  });
});

describe('extra paths and the resulting rights', () => {
  test('extra paths: ro and rw, files and directories; missing ones get no rule', () => {
    const fs = host();
    fs.add('/srv/snapshots', 'dir');
    fs.add('/srv/iso/a.iso', 'file');
    const p = planFiles([], {
      ...input(fs),
      extras: extraFiles(
        { files: [{ path: '/srv/snapshots', access: 'rw', origin: 'files in /c.json' }] },
        { QEMU_SANDBOXED_FILES: 'ro:/srv/iso/a.iso;rw:/srv/missing' },
      ),
    });
    expect(rule(p, '/srv/snapshots')).toContain('make-file');
    expect(rule(p, '/srv/iso/a.iso')).toBe('read');
    expect(rule(p, '/srv/missing')).toBeUndefined();
    expect(p.entries.find((e) => e.path === '/srv/snapshots')?.why).toBe(
      'extra path (files in /c.json)',
    );
  });

  test('a writable tree never lets the guest make device nodes', () => {
    const fs = host();
    fs.add('/vm/share', 'dir');
    const p = planFiles(
      ['-virtfs', 'local,path=/vm/share,mount_tag=s,security_model=passthrough'],
      input(fs),
    );
    const r = p.rules.find((x) => x.path === '/vm/share');
    expect(r && r.access & (FS.MAKE_CHAR | FS.MAKE_BLOCK | FS.IOCTL_DEV)).toBe(0n);
  });
});
