/**
 * files=deny on the real kernel: the hostile program (test/helpers/c/hostile.c)
 * runs in QEMU's place under the launcher and tries files. The launcher derives
 * its Landlock ruleset from a real QEMU command line (-drive, -blockdev,
 * -pidfile, -qmp...), which the stand-in receives and ignores
 * (HOSTILE_ATTEMPTS lists what it does instead). Disk images are made with
 * qemu-img. Each denial has its control: the same attempt under files=allow
 * works, so the test can fail.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { hostileBinary, type AttemptLine } from '../helpers/hostile';
import {
  LAUNCHER,
  baseEnv,
  emptyConfig,
  probeBinary,
  requireWorkingLauncher,
  scratchDir,
} from '../helpers/probe';

jest.setTimeout(120_000);

let dir: string;
let config: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = scratchDir('files');
  chmodSync(dir, 0o755);
  config = emptyConfig(dir);
  env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    QEMU_SANDBOXED_BINARY: hostileBinary(),
    QEMU_SANDBOXED_CONFIG: config,
    QEMU_SANDBOXED_LOG_LEVEL: 'info',
  };
  await requireWorkingLauncher(baseEnv(probeBinary(), config));
  const kernelAbi = execa.sync('uname', ['-r']).stdout;
  process.stdout.write(`files=deny kernel tests on ${kernelAbi}\n`);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface FilesRun {
  readonly outcomes: ReadonlyMap<string, AttemptLine>;
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly text: string;
}

/** The launcher with `policy`, QEMU arguments `qemuArgs`, the stand-in doing `attempts`. */
async function run(
  policy: string,
  qemuArgs: readonly string[],
  attempts: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<FilesRun> {
  const argv = ['-sandbox', policy, '-nodefaults', ...qemuArgs];
  const r = await execa(LAUNCHER, argv, {
    env: { ...env, ...extraEnv, HOSTILE_ATTEMPTS: attempts.join(' ') },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  const outcomes = new Map<string, AttemptLine>();
  for (const line of r.stdout.split('\n').filter((l) => l.trim() !== '')) {
    const parsed = JSON.parse(line) as AttemptLine;
    outcomes.set(parsed.attempt, parsed);
  }
  const text = `$ ${LAUNCHER} ${argv.join(' ')}\n  HOSTILE_ATTEMPTS=${attempts.join(' ')}\nexit=${r.exitCode}\n${r.stdout}\n${r.stderr}`;
  return { outcomes, exitCode: r.exitCode ?? null, stderr: r.stderr, text };
}

/** Each attempt's result word ("ok", "denied EACCES", "escaped"...). */
function results(r: FilesRun, attempts: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of attempts) {
    const o = r.outcomes.get(a);
    out[a] = o === undefined ? `no line\n${r.text}` : `${o.result}${o.errno ? ` ${o.errno}` : ''}`;
  }
  return out;
}

function qemuImg(...args: string[]): void {
  execa.sync('qemu-img', args);
}

function file(name: string, content = 'not for the guest\n'): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('a kernel without Landlock', () => {
  test('files=deny fails closed: exit 69, the missing feature named, QEMU never started', async () => {
    // The probe's wrap mode installs a filter that answers landlock_create_ruleset
    // with ENOSYS, as a kernel built without Landlock does, then execs the launcher.
    const wrap = [probeBinary(), 'wrap', '--deny-seccomp', 'landlock', '--', LAUNCHER];
    const attempt = async (policy: string) =>
      execa(wrap[0], [...wrap.slice(1), '-sandbox', policy, '-nodefaults'], {
        env: {
          ...env,
          QEMU_SANDBOXED_LOG_LEVEL: 'silent',
          HOSTILE_ATTEMPTS: 'file-read:/etc/passwd',
        },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 60_000,
      });
    const refused = await attempt('on,files=deny');
    expect({ exit: refused.exitCode, stdout: refused.stdout, stderr: refused.stderr }).toEqual({
      exit: 69,
      stdout: '',
      stderr:
        'qemu-sandboxed: files=deny needs Landlock ABI 3 (Linux 6.2): the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK); QEMU was not started',
    });
    // Control: without files=deny the launch goes on, with no domain.
    const started = await attempt('on');
    expect([started.exitCode, started.stdout]).toEqual([
      0,
      expect.stringContaining('"result":"ok"'),
    ]);
  });
});

describe('files not on the command line', () => {
  test('cannot be read, written, listed or created; under files=allow they can', async () => {
    const secret = file('secret.txt');
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    const attempts = [
      `file-read:${secret}`,
      `file-write:${secret}`,
      `file-list:${sub}`,
      `file-create:${join(sub, 'new')}`,
      'file-read:/etc/shadow',
      'file-read:/etc/passwd',
      'file-read:/proc/self/status',
      'file-list:/usr/bin',
    ];
    const denied = await run('on,files=deny', [], attempts);
    expect(denied.exitCode).toBe(0);
    expect(results(denied, attempts)).toEqual({
      [`file-read:${secret}`]: 'denied EACCES',
      [`file-write:${secret}`]: 'denied EACCES',
      [`file-list:${sub}`]: 'denied EACCES',
      [`file-create:${join(sub, 'new')}`]: 'denied EACCES',
      // The secrets of /etc are not among what every program reads.
      'file-read:/etc/shadow': 'denied EACCES',
      'file-read:/etc/passwd': 'ok',
      'file-read:/proc/self/status': 'ok',
      'file-list:/usr/bin': 'ok',
    });
    expect(readFileSync(secret, 'utf8')).toBe('not for the guest\n');
    // The launch record says how many rules the domain got.
    expect(denied.stderr).toMatch(
      /"landlock":"scoped signals and abstract sockets; files: \d+ path rules \(ABI \d+\)"/,
    );

    const allowed = await run('on', [], attempts);
    expect(results(allowed, attempts)).toEqual(Object.fromEntries(attempts.map((a) => [a, 'ok'])));
    rmSync(join(sub, 'new'));
  });

  test("under libvirt's string too: the exec gate lets QEMU's exec through, the domain holds", async () => {
    const secret = file('gate-secret.txt');
    const attempts = [`file-read:${secret}`, 'exec-after', 'file-read:/etc/passwd'];
    const r = await run(
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,files=deny',
      [],
      attempts,
    );
    expect(r.stderr).toContain('"execGate":true');
    expect(results(r, attempts)).toEqual({
      [`file-read:${secret}`]: 'denied EACCES',
      'exec-after': 'denied ENOSYS',
      'file-read:/etc/passwd': 'ok',
    });
  });

  test('as an unprivileged user too (no-new-privs is set, the domain is the same)', async () => {
    const secret = file('world-readable.txt');
    chmodSync(secret, 0o644);
    const attempts = [`file-read:${secret}`, 'file-read:/etc/passwd'];
    const argv = ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const r = await execa(
      argv[0],
      [...argv.slice(1), LAUNCHER, '-sandbox', 'on,files=deny', '-nodefaults'],
      {
        env: { ...env, HOSTILE_ATTEMPTS: attempts.join(' ') },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 60_000,
      },
    );
    const lines = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AttemptLine);
    expect({
      lines: lines.map((l) => [l.attempt, l.result, l.errno ?? '']),
      stderr: r.stderr,
    }).toMatchObject({
      lines: [
        [`file-read:${secret}`, 'denied', 'EACCES'],
        ['file-read:/etc/passwd', 'ok', ''],
      ],
    });
  });
});

describe('disks', () => {
  test('a named disk is writable, a readonly=on one is not, snapshot=on keeps it read-only', async () => {
    const rw = join(dir, 'rw.qcow2');
    const ro = join(dir, 'ro.qcow2');
    const snap = join(dir, 'snap.raw');
    qemuImg('create', '-q', '-f', 'qcow2', rw, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', ro, '1M');
    qemuImg('create', '-q', '-f', 'raw', snap, '1M');
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    const args = [
      '-drive',
      `file=${rw},if=none,id=a`,
      '-drive',
      `file=${ro},if=none,id=b,readonly=on`,
      '-drive',
      `file=${snap},format=raw,if=none,id=c,snapshot=on`,
    ];
    const attempts = [
      `file-rdwr:${rw}`,
      `file-truncate:${rw}`,
      `file-read:${ro}`,
      `file-rdwr:${ro}`,
      `file-truncate:${ro}`,
      `file-read:${snap}`,
      `file-rdwr:${snap}`,
      // snapshot=on's overlay goes to $TMPDIR: QEMU may make and remove files there.
      `file-create:${join(tmp, 'vl.overlay')}`,
    ];
    const r = await run('on,files=deny', args, attempts, { TMPDIR: tmp });
    expect(results(r, attempts)).toEqual({
      [`file-rdwr:${rw}`]: 'ok',
      [`file-truncate:${rw}`]: 'ok',
      [`file-read:${ro}`]: 'ok',
      [`file-rdwr:${ro}`]: 'denied EACCES',
      [`file-truncate:${ro}`]: 'denied EACCES',
      [`file-read:${snap}`]: 'ok',
      [`file-rdwr:${snap}`]: 'denied EACCES',
      [`file-create:${join(tmp, 'vl.overlay')}`]: 'ok',
    });
  });

  test('a backing chain named on the command line opens read-only; one that is not is refused with the argument to add', async () => {
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay);

    // Only the overlay: its header names the base, which files=deny does not trust.
    const refused = await run(
      'on,files=deny',
      ['-drive', `file=${overlay},if=none`],
      ['file-read:/etc/passwd'],
    );
    expect({ exit: refused.exitCode, lines: refused.outcomes.size }).toEqual({ exit: 1, lines: 0 });
    expect(refused.stderr).toContain(`${overlay} names ${base} as its backing file, in its header`);
    expect(refused.stderr).toContain(`add backing.file.filename=${base}`);
    expect(refused.stderr).toContain(`QEMU_SANDBOXED_FILES='ro:${base}'`);

    // libvirt's way: the chain as -blockdev nodes, the backing read-only.
    const chain = [
      '-blockdev',
      JSON.stringify({
        driver: 'file',
        filename: base,
        'node-name': 'base-storage',
        'auto-read-only': true,
      }),
      '-blockdev',
      JSON.stringify({
        'node-name': 'base-format',
        'read-only': true,
        driver: 'qcow2',
        file: 'base-storage',
      }),
      '-blockdev',
      JSON.stringify({
        driver: 'file',
        filename: overlay,
        'node-name': 'top-storage',
        'auto-read-only': true,
      }),
      '-blockdev',
      JSON.stringify({
        'node-name': 'top-format',
        'read-only': false,
        driver: 'qcow2',
        file: 'top-storage',
        backing: 'base-format',
      }),
    ];
    const attempts = [`file-read:${base}`, `file-rdwr:${base}`, `file-rdwr:${overlay}`];
    const r = await run('on,files=deny', chain, attempts);
    expect(results(r, attempts)).toEqual({
      [`file-read:${base}`]: 'ok',
      [`file-rdwr:${base}`]: 'denied EACCES',
      [`file-rdwr:${overlay}`]: 'ok',
    });

    // The -drive form with the backing named in the option.
    const named = await run(
      'on,files=deny',
      ['-drive', `file=${overlay},if=none,backing.file.filename=${base}`],
      attempts,
    );
    expect(results(named, attempts)).toEqual({
      [`file-read:${base}`]: 'ok',
      [`file-rdwr:${base}`]: 'denied EACCES',
      [`file-rdwr:${overlay}`]: 'ok',
    });
  });

  test('a hostile qcow2 whose data file points at a host file is refused', async () => {
    const hostFile = file('host-file.raw', 'HOST SECRET\n');
    const decoy = file('decoy.raw', '');
    const evil = join(dir, 'evil.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${decoy}`, evil, '1M');
    // Whoever made the image points its data file elsewhere: here a host file
    // (as well /etc/shadow or another VM's disk).
    rewriteDataFile(evil, hostFile);
    expect(execa.sync('qemu-img', ['info', '--output=json', evil]).stdout).toContain(hostFile);

    const refused = await run(
      'on,files=deny',
      ['-drive', `file=${evil},if=none`],
      [`file-read:${hostFile}`],
    );
    expect({ exit: refused.exitCode, lines: refused.outcomes.size }).toEqual({ exit: 1, lines: 0 });
    expect(refused.stderr).toContain(
      `${evil} names ${hostFile} as its external data file, in its header`,
    );

    // The operator who means it names it, with the access it needs.
    const attempts = [`file-rdwr:${hostFile}`, `file-rdwr:${evil}`];
    const allowed = await run('on,files=deny', ['-drive', `file=${evil},if=none`], attempts, {
      QEMU_SANDBOXED_FILES: `rw:${hostFile}`,
    });
    expect(results(allowed, attempts)).toEqual({
      [`file-rdwr:${hostFile}`]: 'ok',
      [`file-rdwr:${evil}`]: 'ok',
    });
    // Allowed read-only, the data file of a writable image is still refused.
    const readOnly = await run('on,files=deny', ['-drive', `file=${evil},if=none`], attempts, {
      QEMU_SANDBOXED_FILES: `ro:${hostFile}`,
    });
    expect(readOnly.exitCode).toBe(1);
    expect(readOnly.stderr).toContain(`QEMU_SANDBOXED_FILES='rw:${hostFile}'`);
  });
});

describe('host state and devices', () => {
  test('/proc/sys and /sys are read-only; /dev/net/tun opens only with a tap netdev', async () => {
    const attempts = [
      'proc-sys-hostname',
      'file-read:/proc/sys/kernel/hostname',
      'file-rdwr:/sys/kernel/mm/transparent_hugepage/enabled',
      'tun-setiff',
    ];
    const r = await run('on,files=deny', [], attempts);
    expect(results(r, attempts)).toEqual({
      'proc-sys-hostname': 'denied EACCES',
      'file-read:/proc/sys/kernel/hostname': 'ok',
      'file-rdwr:/sys/kernel/mm/transparent_hugepage/enabled': 'denied EACCES',
      'tun-setiff': 'denied EACCES',
    });
    // Control: without files=deny, root writes /proc/sys (the same name back) and makes a tap.
    const control = await run('on', [], ['proc-sys-hostname', 'tun-setiff']);
    expect(results(control, ['proc-sys-hostname', 'tun-setiff'])).toEqual({
      'proc-sys-hostname': 'escaped',
      'tun-setiff': 'escaped',
    });

    // A tap QEMU opens itself: /dev/net/tun is then part of the ruleset.
    const tap = await run(
      'on,files=deny',
      ['-netdev', 'tap,id=n0,script=no,downscript=no'],
      ['tun-setiff', 'file-read:/dev/net/tun'],
    );
    expect(results(tap, ['tun-setiff'])).toEqual({ 'tun-setiff': 'escaped' });
    // A tap passed as fd=: QEMU opens nothing, and neither may the attacker.
    const fd = await run('on,files=deny', ['-netdev', 'tap,id=n0,fd=3'], ['tun-setiff']);
    expect(results(fd, ['tun-setiff'])).toEqual({ 'tun-setiff': 'denied EACCES' });
  });
});

describe('what QEMU creates', () => {
  test('the pidfile is made for QEMU; the QMP socket may be bound; the directory stays closed', async () => {
    const vmdir = join(dir, 'vm');
    mkdirSync(vmdir, { recursive: true });
    const disk = join(vmdir, 'disk.raw');
    const other = join(vmdir, 'other-vm.raw');
    qemuImg('create', '-q', '-f', 'raw', disk, '1M');
    qemuImg('create', '-q', '-f', 'raw', other, '1M');
    const pidfile = join(vmdir, 'qemu.pid');
    const qmp = join(vmdir, 'qmp.sock');
    rmSync(pidfile, { force: true });
    // A stale socket from an earlier run, as QEMU would find it.
    execa.sync('python3', [
      '-c',
      `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(qmp)})`,
    ]);
    expect(lstatSync(qmp).isSocket()).toBe(true);
    const attempts = [
      `file-write:${pidfile}`,
      `file-bind:${qmp}`,
      `file-rdwr:${disk}`,
      `file-rdwr:${other}`,
      `file-create:${join(vmdir, 'planted')}`,
    ];
    const r = await run(
      'on,files=deny',
      [
        '-drive',
        `file=${disk},format=raw,if=none`,
        '-pidfile',
        pidfile,
        '-qmp',
        `unix:${qmp},server=on,wait=off`,
      ],
      attempts,
    );
    expect(results(r, attempts)).toEqual({
      [`file-write:${pidfile}`]: 'ok',
      [`file-bind:${qmp}`]: 'ok',
      [`file-rdwr:${disk}`]: 'ok',
      // The pidfile and the socket go in this directory; nothing else in it opens.
      [`file-rdwr:${other}`]: 'denied EACCES',
      [`file-create:${join(vmdir, 'planted')}`]: 'denied EACCES',
    });
    expect(statSync(pidfile).mode & 0o777).toBe(0o600 & ~process.umask());
    expect(existsSync(join(vmdir, 'planted'))).toBe(false);
  });

  test('extra paths: QEMU_SANDBOXED_FILES and the site config', async () => {
    const snapshots = join(dir, 'snapshots');
    const iso = file('install.iso', 'ISO');
    mkdirSync(snapshots, { recursive: true });
    const attempts = [
      `file-create:${join(snapshots, 'ext1.qcow2')}`,
      `file-read:${iso}`,
      `file-rdwr:${iso}`,
    ];
    const cfg = join(dir, 'files-config.json');
    writeFileSync(cfg, JSON.stringify({ files: { [iso]: 'ro' } }));
    const r = await run('on,files=deny', [], attempts, {
      QEMU_SANDBOXED_FILES: `rw:${snapshots}`,
      QEMU_SANDBOXED_CONFIG: cfg,
    });
    expect(results(r, attempts)).toEqual({
      [`file-create:${join(snapshots, 'ext1.qcow2')}`]: 'ok',
      [`file-read:${iso}`]: 'ok',
      [`file-rdwr:${iso}`]: 'denied EACCES',
    });
    const bad = await run('on,files=deny', [], attempts, { QEMU_SANDBOXED_FILES: 'write:/srv' });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('QEMU_SANDBOXED_FILES: "write:/srv" is not ACCESS:PATH');
  });
});

/**
 * Points a qcow2 image's external data file (header extension 0x44415441) at
 * `target`, re-writing the header extensions in place: what anyone who makes
 * an image can do.
 */
function rewriteDataFile(image: string, target: string): void {
  const buf = readFileSync(image);
  const headerLength = buf.readUInt32BE(100);
  const exts: Array<{ type: number; data: Buffer }> = [];
  let at = headerLength;
  for (;;) {
    const type = buf.readUInt32BE(at);
    const len = buf.readUInt32BE(at + 4);
    if (type === 0) break;
    exts.push({ type, data: buf.subarray(at + 8, at + 8 + len) });
    at += 8 + ((len + 7) & ~7);
  }
  const end = at + 8;
  const out: Buffer[] = [];
  for (const e of exts) {
    const data = e.type === 0x44415441 ? Buffer.from(target) : e.data;
    const head = Buffer.alloc(8);
    head.writeUInt32BE(e.type, 0);
    head.writeUInt32BE(data.length, 4);
    out.push(head, data, Buffer.alloc(((data.length + 7) & ~7) - data.length));
  }
  out.push(Buffer.alloc(8));
  const ext = Buffer.concat(out);
  if (headerLength + ext.length > 65536) throw new Error('extensions too long');
  buf.fill(0, headerLength, Math.max(end, headerLength + ext.length));
  ext.copy(buf, headerLength);
  writeFileSync(image, buf);
}
