/**
 * libvirt's emulator override, with a real libvirtd: a TCG domain whose
 * <emulator> is `qemu-system-x86_64-sandboxed` from a real `scripts/install
 * --prefix` into the test's directory (a link to the installed launcher, as
 * on a production host), or the one $QEMU_SANDBOXED_TEST_EMULATOR names (the
 * Debian package's /usr/bin/qemu-system-x86_64-sandboxed), direct-boots the
 * test guest. Checked: libvirt's
 * capability probe goes through the launcher and still finds -sandbox (so
 * libvirt passes its own string, which we consume), and a site default that
 * the probe cannot run under fails with the launcher's reason in virsh's
 * error; the guest boots; the QEMU process keeps the pid libvirt recorded
 * (the pid of our launch record) and carries our filter; the domain log holds
 * our launch record; libvirt's monitor, `virsh shutdown` (ACPI) and `virsh
 * destroy` work; a site config with action=log survives libvirt's string.
 *
 * Writes what it saw to .cache/libvirt-test/transcript.md (docs/libvirt.md
 * quotes one such run).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import {
  LIBVIRT_SANDBOX,
  expectedFilterHashes,
  guest,
  qemuBinary,
  readLoadedFilters,
  repoRoot,
  requireLauncher,
  type GuestImage,
} from '../helpers/guest';
import {
  ACPI_POWERDOWN,
  ACPI_READY,
  Libvirtd,
  QEMU_CONF,
  acpiInitrd,
  type VirshResult,
} from '../helpers/libvirtd';
import { pidAlive } from '../../scripts/lib/pid';
import { parsePolicy, policyToString } from '../../src/policy';

jest.setTimeout(300_000);

const DOMAIN = 'qs-libvirt-e2e';
/**
 * The <emulator> to test instead of a scripts/install into the test's
 * directory: an installed package's link, e.g. the Debian package's
 * /usr/bin/qemu-system-x86_64-sandboxed.
 */
const EMULATOR_ENV = 'QEMU_SANDBOXED_TEST_EMULATOR';
const BOOT_TIMEOUT_MS = 180_000;

let daemon: Libvirtd | undefined;
let emulator = '';
let installedLauncher = '';
let image: GuestImage;
let initrd = '';
const transcript: string[] = [];

function need(): Libvirtd {
  if (!daemon) throw new Error('libvirtd did not start (see beforeAll)');
  return daemon;
}

/** Runs virsh, records command and output for the transcript, fails on a non-zero exit. */
async function virsh(...args: string[]): Promise<VirshResult> {
  const r = await need().virshOk(...args);
  note(`# ${r.command.replace(/^virsh /, 'virsh ')}`, r.stdout.trimEnd());
  return r;
}

function note(...lines: string[]): void {
  transcript.push(...lines);
}

/** The domain: TCG, the guest's kernel and initrd (plus the ACPI add-on), serial console into a file. */
function domainXml(consoleLog: string, name = DOMAIN): string {
  // no_timer_check as in scripts/lib/vm.ts (guestArgs).
  const cmdline =
    'console=ttyS0 quiet loglevel=0 panic=-1 no_timer_check qs.mode=stay qs.check=cpu rdinit=/qs-acpi/init';
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${image.kernel}</kernel>
    <initrd>${initrd}</initrd>
    <cmdline>${cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>${emulator}</emulator>
    <serial type='file'>
      <source path='${consoleLog}' append='off'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function read(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Waits until `file` has a line matching `re`. */
async function waitLine(file: string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = read(file)
      .split('\n')
      .find((l) => re.test(l.replace(/\r$/, '')));
    if (hit !== undefined) return hit.replace(/\r$/, '');
    if (Date.now() > deadline) {
      throw new Error(
        `no line matching ${re} in ${file} after ${timeoutMs} ms; it holds:\n${read(file).slice(-2000)}\ndomain log:\n${read(need().domainLog(DOMAIN)).slice(-3000)}`,
      );
    }
    await sleep(250);
  }
}

async function waitState(state: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await need().virsh('domstate', '--reason', DOMAIN);
    if (state.test(r.stdout.trim())) return r.stdout.trim();
    if (Date.now() > deadline)
      throw new Error(`domain state is "${r.stdout.trim()}", waited for ${state}`);
    await sleep(500);
  }
}

function procStatus(pid: number): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) map.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return map;
}

/** The pino records (JSON lines) the launcher wrote into the domain log. */
function launchRecords(log: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object' && (v as { msg?: unknown }).msg === 'launch') {
        out.push(v as Record<string, unknown>);
      }
    } catch {
      // Not JSON: QEMU's own output.
    }
  }
  return out;
}

/** Starts the domain and waits for the guest to be up (marker, then the ACPI add-on and QS-READY). */
async function bootDomain(consoleLog: string, name = DOMAIN): Promise<{ pid: number; ms: number }> {
  const started = Date.now();
  await virsh('start', name);
  const pid = need().recordedPid(name);
  if (pid === undefined)
    throw new Error(`libvirt wrote no pid file for ${name}:\n${need().logTail()}`);
  await waitLine(consoleLog, /^QS-READY$/, BOOT_TIMEOUT_MS);
  return { pid, ms: Date.now() - started };
}

beforeAll(async () => {
  requireLauncher();
  image = await guest();
  initrd = await acpiInitrd(image);
  daemon = await Libvirtd.start();
  const given = process.env[EMULATOR_ENV];
  if (given) {
    // An installed package's link, e.g. the Debian package's
    // /usr/bin/qemu-system-x86_64-sandboxed.
    if (!/^\/.*\/qemu-system-x86_64-sandboxed$/.test(given) || !existsSync(given)) {
      throw new Error(
        `${EMULATOR_ENV}=${given}: expected an existing /.../qemu-system-x86_64-sandboxed`,
      );
    }
    emulator = given;
    installedLauncher = readlinkSync(given);
    note(`# ls -l ${given}`, `${given} -> ${installedLauncher}`, '');
  } else {
    // Installed as on a host (the package, not this checkout, runs under
    // libvirt): qemu-system-<target>-sandboxed links to the installed launcher,
    // and the link's name selects qemu-system-<target>. The prefix is inside
    // the daemon's directory, which stop() removes.
    const prefix = join(daemon.dir, 'prefix');
    const inst = await execa('sh', [join(repoRoot(), 'scripts', 'install'), '--prefix', prefix], {
      reject: false,
    });
    if (inst.exitCode !== 0) {
      throw new Error(
        `scripts/install --prefix ${prefix} failed (${inst.exitCode}): ${inst.stderr}`,
      );
    }
    installedLauncher = join(prefix, 'lib', 'qemu-sandboxed', 'launcher', 'qemu-sandboxed');
    emulator = join(prefix, 'bin', 'qemu-system-x86_64-sandboxed');
    note(`# scripts/install --prefix ${prefix}`, inst.stderr.trim(), '');
  }
  expect(readlinkSync(emulator)).toBe(installedLauncher);
  const v = await virsh('version');
  note('', '# cat /etc/libvirt/qemu.conf', QEMU_CONF.trimEnd());
  expect(v.stdout).toMatch(/Running hypervisor: QEMU \d/);
}, 20 * 60_000);

afterAll(async () => {
  try {
    await daemon?.stop();
  } finally {
    const dir = join(repoRoot(), '.cache', 'libvirt-test');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'transcript.md'), `${transcript.join('\n')}\n`);
  }
}, 60_000);

test("libvirt's capability probe runs through the launcher and still finds -sandbox", async () => {
  const r = await need().virshOk(
    'domcapabilities',
    '--emulatorbin',
    emulator,
    '--virttype',
    'qemu',
    '--arch',
    'x86_64',
  );
  // The head is enough for the transcript (the rest lists CPU models and devices).
  const head = r.stdout.split('\n');
  note(
    `# ${r.command}`,
    ...head.slice(0, head.findIndex((l) => l.includes('</arch>')) + 1),
    '  ...',
  );
  expect(r.stdout).toContain(`<path>${emulator}</path>`);
  expect(r.stdout).toContain('<domain>qemu</domain>');
  // The probe's result, cached per emulator binary: the QEMU behind the
  // launcher answered query-command-line-options with "sandbox", so libvirt
  // will pass its own -sandbox string (seccomp_sandbox = 1 in qemu.conf).
  const capsDir = need().path('cache', 'qemu', 'capabilities');
  const caps = readdirSync(capsDir)
    .map((f) => read(join(capsDir, f)))
    .find((x) => x.includes(`<emulator>${emulator}</emulator>`));
  expect(caps).toBeDefined();
  expect(caps).toContain("<flag name='seccomp-sandbox'/>");
  note(
    '# grep seccomp /var/cache/libvirt/qemu/capabilities/<emulator hash>.xml',
    "  <flag name='seccomp-sandbox'/>",
  );
});

test("a site default with spawn=deny refuses libvirt's probe (it passes -daemonize), and virsh says why", async () => {
  // docs/libvirt.md, "Capability probing": the probe gets no -sandbox, so the
  // site default applies to it, and -daemonize forks. A second link: libvirt
  // caches capabilities per emulator path, and this one must be probed anew.
  const bin = join(need().dir, 'bin-strict');
  mkdirSync(bin);
  const strict = join(bin, 'qemu-system-x86_64-sandboxed');
  symlinkSync(installedLauncher, strict);
  need().setSandboxConfig({ sandbox: 'on,spawn=deny' });
  let r: VirshResult;
  try {
    r = await need().virsh('domcapabilities', '--emulatorbin', strict, '--virttype', 'qemu');
  } finally {
    need().setSandboxConfig(undefined);
  }
  note(
    '',
    '# cat /etc/qemu-sandboxed/config.json',
    JSON.stringify({ sandbox: 'on,spawn=deny' }),
    `# ${r.command.replace(strict, '.../bin-strict/qemu-system-x86_64-sandboxed')}`,
    r.stderr.trim(),
    '',
  );
  expect(r.exitCode).not.toBe(0);
  // libvirt quotes the launcher's one-line refusal from the probe's stderr.
  expect(r.stderr).toMatch(/qemu-sandboxed: .*-daemonize/);
  expect(r.stderr).toMatch(/spawn=deny/);
});

describe('a domain with the launcher as <emulator>', () => {
  let consoleLog = '';
  let pid = 0;

  beforeAll(async () => {
    consoleLog = join(mkdtempSync(join(need().dir, 'console-')), 'serial.log');
    const xml = join(need().dir, `${DOMAIN}.xml`);
    writeFileSync(xml, domainXml(consoleLog));
    note('', `# cat ${DOMAIN}.xml`, domainXml(consoleLog).trimEnd());
    await virsh('define', xml);
  }, 120_000);

  test('starts, boots the guest, and QEMU keeps the pid libvirt recorded, under our filter', async () => {
    const boot = await bootDomain(consoleLog);
    pid = boot.pid;
    note(`# (guest up ${boot.ms} ms after virsh start)`);
    const lines = read(consoleLog).replace(/\r/g, '').trimEnd();
    note('# cat serial.log', lines);
    expect(lines).toContain(ACPI_READY);
    expect(lines).toMatch(/^QEMU-SANDBOXED-GUEST-OK kernel=/m);
    expect(lines).toContain('QS-CHECK cpu ok');

    await virsh('list');
    await virsh('dominfo', DOMAIN);
    expect(need().statusPid(DOMAIN)).toBe(pid);
    note(`# cat /run/libvirt/qemu/${DOMAIN}.pid`, String(pid));

    // Exec'd in place: the pid libvirt forked and recorded is QEMU itself.
    // The file behind /proc/<pid>/exe is QEMU's binary (same device and inode)...
    const qemu = realpathSync(qemuBinary());
    const [running, binary] = [statSync(`/proc/${pid}/exe`), statSync(qemu)];
    expect([running.dev, running.ino]).toEqual([binary.dev, binary.ino]);
    // ...and its name is the path in QEMU's mount namespace (libvirtd's
    // private one), the same as ours.
    const exe = readlinkSync(`/proc/${pid}/exe`);
    expect(exe).toBe(qemu);
    const status = procStatus(pid);
    expect(status.get('Seccomp')).toBe('2');
    note(
      `# readlink /proc/${pid}/exe; grep -E 'Seccomp|NoNewPrivs' /proc/${pid}/status`,
      exe,
      ...['NoNewPrivs', 'Seccomp', 'Seccomp_filters'].map((k) => `${k}:\t${status.get(k)}`),
    );
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // libvirt's own string was consumed by the launcher (QEMU may get back
    // only what the launcher delegates to it, never libvirt's string as is).
    expect(cmdline).not.toContain(LIBVIRT_SANDBOX);

    // The domain log: libvirt's command line with its -sandbox string, then
    // our launch record (JSON, as stderr is virtlogd's pipe).
    const log = read(need().domainLog(DOMAIN));
    expect(log).toContain(`${emulator} \\`);
    expect(log).toContain(`-sandbox ${LIBVIRT_SANDBOX}`);
    const records = launchRecords(log);
    expect(records).toHaveLength(1);
    const rec = records[0];
    // The launcher wrote its record as the very process libvirt recorded:
    // it exec'd QEMU in place rather than starting it as a child.
    expect(rec.pid).toBe(pid);
    // Our filter, and a second one only when the launcher handed a group to
    // QEMU's own -sandbox (qemuSandbox): libvirt's string itself never
    // reaches QEMU, so QEMU adds no filter of its own for it.
    expect(Number(status.get('Seccomp_filters'))).toBe(rec.qemuSandbox ? 2 : 1);
    // Which programs, byte for byte, against filters compiled here apart from
    // the launcher: "Seccomp: 2" alone would also pass for an allow-all filter
    // or QEMU's own. A `-object thread-context` (libvirt adds one for some
    // memory setups) makes the launcher compile ours without resourcecontrol
    // and delegate that group to QEMU's -sandbox, which QEMU stacks on ours
    // after creating its thread contexts (src/launch/delegation.ts).
    // PTRACE_SECCOMP_GET_FILTER's index 0 is the oldest filter (seen on this
    // kernel: the launcher's, whose hash it logs, comes first).
    const threadContext = cmdline.some((a) => a.includes('thread-context'));
    expect(Boolean(rec.qemuSandbox)).toBe(threadContext);
    const hashes = readLoadedFilters(pid).map((f) => f.hash);
    note(`# (filters on QEMU, oldest first: ${hashes.map((h) => h.slice(0, 12)).join(', ')})`);
    if (!threadContext) {
      expect(hashes).toEqual(expectedFilterHashes(LIBVIRT_SANDBOX));
    } else {
      const ours = expectedFilterHashes(
        LIBVIRT_SANDBOX.replace('resourcecontrol=deny', 'resourcecontrol=allow'),
      );
      expect(hashes).toHaveLength(2);
      expect(hashes[0]).toBe(ours[0]); // loaded by the launcher before execve
      expect(hashes[1]).not.toBe(ours[0]); // QEMU's own, on top
    }
    expect(realpathSync(String(rec.binary))).toBe(realpathSync(qemuBinary()));
    // Chosen by the name libvirt invoked: qemu-system-x86_64-sandboxed.
    expect(rec.binarySource).toBe('invoked-name');
    expect(String(rec.policy)).toMatch(/spawn=deny/);
    // libvirt's -name guest=DOMAIN,... names the VM (the key of the config's "vms");
    // its -sandbox string set the groups.
    expect(rec.vm).toBe(DOMAIN);
    expect(rec.policySources).toMatchObject({ enable: '-sandbox', spawn: '-sandbox' });
    expect(rec.tightened).toBeNull();
    expect(rec.filterLength).toEqual(expect.any(Number));
    expect(Number(rec.filterLength)).toBeGreaterThan(0);
    note(
      `# cat /var/log/libvirt/qemu/${DOMAIN}.log`,
      log
        .trimEnd()
        .split('\n')
        .filter((l) => !/^[A-Z_]+=/.test(l))
        .join('\n'),
    );

    // libvirt's monitor connection (an inherited fd) works under the filter.
    const hmp = await virsh('qemu-monitor-command', '--hmp', DOMAIN, 'info status');
    expect(hmp.stdout).toMatch(/VM status: running/);
  });

  test('virsh shutdown powers the guest off through ACPI', async () => {
    expect(pid).toBeGreaterThan(0);
    await virsh('shutdown', '--mode', 'acpi', DOMAIN);
    await waitLine(consoleLog, new RegExp(`^${ACPI_POWERDOWN}$`), 60_000);
    const state = await waitState(/^shut off/, 60_000);
    note(`# virsh domstate --reason ${DOMAIN}`, state);
    expect(state).toBe('shut off (shutdown)');
    note(
      '# tail -n 2 serial.log',
      ...read(consoleLog).replace(/\r/g, '').trimEnd().split('\n').slice(-2),
    );
    expect(pidAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(DOMAIN)).toBe(
      false,
    );
    const log = read(need().domainLog(DOMAIN));
    expect(log).toMatch(/shutting down, reason=shutdown/);
    note(`# tail -n 2 /var/log/libvirt/qemu/${DOMAIN}.log`, ...log.trimEnd().split('\n').slice(-2));
  });

  test("rolling out in audit mode: the site config action=log stays under libvirt's string; virsh destroy stops the domain", async () => {
    // Independent of the shutdown test's outcome.
    if ((await need().virsh('domstate', DOMAIN)).stdout.trim() !== 'shut off') {
      await need().virsh('destroy', DOMAIN);
    }
    const rollout = { sandbox: 'on,action=log' };
    need().setSandboxConfig(rollout);
    note('', '# cat /etc/qemu-sandboxed/config.json', JSON.stringify(rollout));
    let boot: { pid: number; ms: number };
    try {
      boot = await bootDomain(consoleLog);
    } finally {
      need().setSandboxConfig(undefined);
    }
    expect(procStatus(boot.pid).get('Seccomp')).toBe('2');
    // libvirt's -sandbox string merged onto the config's default: its groups
    // apply, and as it sets no action, the config's action=log stays.
    const records = launchRecords(read(need().domainLog(DOMAIN)));
    expect(records).toHaveLength(2);
    expect(records[1].pid).toBe(boot.pid);
    const policy = String(records[1].policy);
    note('# (launch record of this boot) policy:', policy);
    expect(policy).toMatch(/(^|,)action=log(,|$)/);
    // The dry run: every rule logs, so spawn=deny arms no exec gate.
    expect(records[1]).toMatchObject({ dryRun: true, execGate: false });
    expect(policy).toMatch(/(^|,)spawn=deny(,|$)/);
    expect(policy).toMatch(/(^|,)elevateprivileges=deny(,|$)/);
    await virsh('destroy', DOMAIN);
    const state = await waitState(/^shut off/, 30_000);
    note(`# virsh domstate --reason ${DOMAIN}`, state);
    expect(state).toBe('shut off (destroyed)');
    expect(
      pidAlive(boot.pid) && readFileSync(`/proc/${boot.pid}/cmdline`, 'utf8').includes(DOMAIN),
    ).toBe(false);
    // libvirtd's closing line reaches the domain log through virtlogd, which
    // may write it after virsh already reports the state: wait for it (10 s).
    const tail = (): string[] => read(need().domainLog(DOMAIN)).trimEnd().split('\n').slice(-3);
    let tailLines = tail();
    for (let i = 0; i < 100 && !/reason=destroyed/.test(tailLines.join('\n')); i++) {
      await new Promise((r) => setTimeout(r, 100));
      tailLines = tail();
    }
    note(`# tail -n 3 /var/log/libvirt/qemu/${DOMAIN}.log`, ...tailLines);
    expect(tailLines.join('\n')).toMatch(/reason=destroyed/);
  });

  test('files=deny from the site config: the domain boots with only its own files; hot-plug needs an extra path; save, restore and shutdown work', async () => {
    if ((await need().virsh('domstate', DOMAIN)).stdout.trim() !== 'shut off') {
      await need().virsh('destroy', DOMAIN);
    }
    // Two directories of disks for hot-plug: one given as an extra path, one not.
    const granted = mkdtempSync(join(need().dir, 'granted-'));
    const other = mkdtempSync(join(need().dir, 'other-'));
    for (const d of [granted, other]) writeFileSync(join(d, 'hot.img'), Buffer.alloc(1 << 20));
    const config = { sandbox: 'on,files=deny', files: { [granted]: 'rw' as const } };
    need().setSandboxConfig(config);
    note('', '# cat /etc/qemu-sandboxed/config.json', JSON.stringify(config));
    let boot: { pid: number; ms: number };
    try {
      boot = await bootDomain(consoleLog);
    } finally {
      need().setSandboxConfig(undefined);
    }
    note(`# (guest up ${boot.ms} ms after virsh start, files=deny)`);
    expect(read(consoleLog)).toContain('QS-CHECK cpu ok');
    const records = launchRecords(read(need().domainLog(DOMAIN)));
    const rec = records[records.length - 1];
    expect(rec.pid).toBe(boot.pid);
    // libvirt's string merged onto the site's default: its groups and files=deny.
    expect(String(rec.policy)).toMatch(/(^|,)spawn=deny(,|$)/);
    expect(String(rec.policy)).toMatch(/(^|,)files=deny(,|$)/);
    expect(String(rec.landlock)).toMatch(/files: \d+ path rules/);
    note(
      '# (launch record of this boot) policy, landlock:',
      String(rec.policy),
      String(rec.landlock),
    );
    // QEMU itself is confined: the host's secrets are not readable, the monitor works.
    const hmp = await virsh('qemu-monitor-command', '--hmp', DOMAIN, 'info status');
    expect(hmp.stdout).toMatch(/VM status: running/);
    const probe = await need().virsh(
      'qemu-monitor-command',
      DOMAIN,
      JSON.stringify({
        execute: 'blockdev-add',
        arguments: {
          driver: 'file',
          filename: '/etc/shadow',
          'node-name': 'shadow',
          'read-only': true,
        },
      }),
    );
    note(`# ${probe.command}`, (probe.stdout + probe.stderr).trim());
    expect(probe.stdout + probe.stderr).toMatch(/Permission denied/);

    // Hot-plug: QEMU opens the image itself (blockdev-add), so only a granted path works.
    const refused = await need().virsh(
      'attach-disk',
      DOMAIN,
      join(other, 'hot.img'),
      'vdb',
      '--live',
      '--targetbus',
      'virtio',
    );
    note(`# ${refused.command}`, (refused.stdout + refused.stderr).trim());
    expect(refused.stdout + refused.stderr).toMatch(/Permission denied/);
    await virsh(
      'attach-disk',
      DOMAIN,
      join(granted, 'hot.img'),
      'vdc',
      '--live',
      '--targetbus',
      'virtio',
    );
    expect((await virsh('domblklist', DOMAIN)).stdout).toContain(join(granted, 'hot.img'));

    // virsh save: libvirt opens the file and QEMU migrates into the descriptor it is given.
    const saved = join(granted, 'domain.save');
    await virsh('save', DOMAIN, saved);
    expect(await waitState(/^shut off/, 60_000)).toBe('shut off (saved)');
    // virsh restore: a new QEMU, under the same site config, with the hot-plugged disk on its command line.
    need().setSandboxConfig(config);
    try {
      await virsh('restore', saved);
    } finally {
      need().setSandboxConfig(undefined);
    }
    expect(await waitState(/^running/, 60_000)).toMatch(/^running/);
    const restored = launchRecords(read(need().domainLog(DOMAIN))).pop();
    expect(String(restored?.policy)).toMatch(/(^|,)files=deny(,|$)/);
    expect((await virsh('domblklist', DOMAIN)).stdout).toContain(join(granted, 'hot.img'));

    // ACPI shutdown, as without files=deny.
    await virsh('shutdown', '--mode', 'acpi', DOMAIN);
    const state = await waitState(/^shut off/, 90_000);
    note(`# virsh domstate --reason ${DOMAIN}`, state);
    expect(state).toBe('shut off (shutdown)');
  }, 600_000);
});

describe('two domains with per-VM policies from the site config', () => {
  const A = 'qs-fleet-a';
  const B = 'qs-fleet-b';
  // libvirt's string sets the four QEMU groups; a vms entry decides network and action.
  const vms: Record<string, string> = { [A]: 'network=deny', [B]: 'action=log' };

  test('each carries exactly its own filter, read back from the kernel', async () => {
    const dir = mkdtempSync(join(need().dir, 'fleet-'));
    const consoles: Record<string, string> = { [A]: join(dir, 'a.log'), [B]: join(dir, 'b.log') };
    for (const name of [A, B]) {
      const xml = join(dir, `${name}.xml`);
      writeFileSync(xml, domainXml(consoles[name], name));
      await need().virshOk('define', xml);
    }
    need().setSandboxConfig({ sandbox: 'on', vms });
    note('', '# cat /etc/qemu-sandboxed/config.json', JSON.stringify({ sandbox: 'on', vms }));
    const booted: Record<string, number> = {};
    try {
      for (const name of [A, B]) booted[name] = (await bootDomain(consoles[name], name)).pid;
    } finally {
      need().setSandboxConfig(undefined);
    }
    try {
      for (const name of [A, B]) {
        const pid = booted[name];
        const recs = launchRecords(read(need().domainLog(name)));
        const rec = recs[recs.length - 1];
        expect(rec).toMatchObject({ pid, vm: name });
        const key = name === A ? 'network' : 'action';
        expect((rec.policySources as Record<string, string>)[key]).toMatch(
          new RegExp(`^vms\\.${name} in `),
        );
        // The policy this domain should have: "on", its entry, then libvirt's string.
        const want = parsePolicy(`${vms[name]},${LIBVIRT_SANDBOX.replace(/^on,/, '')}`);
        expect(String(rec.policy)).toBe(policyToString(want));
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const delegated =
          cmdline.some((a) => a.includes('thread-context')) && want.action === 'kill';
        const ours = expectedFilterHashes(
          policyToString(delegated ? { ...want, resourceControl: 'allow' } : want),
        );
        const loaded = readLoadedFilters(pid).map((f) => f.hash);
        note(
          `# (${name}: ${String(rec.policy)}; filters on QEMU: ${loaded.map((h) => h.slice(0, 12)).join(', ')})`,
        );
        if (delegated) expect(loaded[0]).toBe(ours[0]);
        else expect(loaded).toEqual(ours);
      }
      // Two different programs: each domain got its own entry, not the other's.
      expect(readLoadedFilters(booted[A])[0].hash).not.toBe(readLoadedFilters(booted[B])[0].hash);
      expect(read(consoles[A])).toContain('QS-CHECK cpu ok');
      expect(read(consoles[B])).toContain('QS-CHECK cpu ok');
    } finally {
      for (const name of [A, B]) await need().virsh('destroy', name);
    }
  });
});
