/**
 * The guest boots through launcher/qemu-sandboxed under each policy an
 * operator is expected to use, and the filter is really on QEMU while it runs:
 * the launcher exec'd QEMU in place (same pid, /proc/<pid>/exe is QEMU), the
 * kernel reports seccomp mode 2 and holds exactly one filter, byte for byte
 * the one this test compiles for the policy (read back with
 * PTRACE_SECCOMP_GET_FILTER), and the guest powers off with QEMU exiting 0.
 */
import {
  BOOT_TIMEOUT_MS,
  GUEST_MARKER,
  LIBVIRT_SANDBOX,
  bootOnce,
  expectedFilterHashes,
  guest,
  killAllVms,
  realQemu,
  requireLauncher,
  type BootRecord,
} from '../helpers/guest';

jest.setTimeout(BOOT_TIMEOUT_MS + 60_000);

beforeAll(async () => {
  requireLauncher();
  await guest();
}, 20 * 60_000);
afterAll(() => killAllVms());

const isRoot = process.geteuid?.() === 0;

interface Case {
  readonly name: string;
  readonly sandbox: string | undefined;
  readonly checks: readonly string[];
  readonly expect: (r: BootRecord) => void;
}

const cases: readonly Case[] = [
  {
    name: '-sandbox off: no filter',
    sandbox: 'off',
    checks: ['cpu'],
    expect: (r) => {
      expect(r.seccomp).toBe('0');
    },
  },
  {
    name: 'no -sandbox: the default policy is on',
    sandbox: undefined,
    checks: ['cpu'],
    expect: (r) => {
      expect(r.seccomp).toBe('2');
      // The launcher contract: with CAP_SYS_ADMIN and elevateprivileges=allow
      // no-new-privileges stays off (setuid helpers keep working).
      if (isRoot) expect(r.noNewPrivs).toBe('0');
    },
  },
  {
    name: "libvirt's full string",
    sandbox: LIBVIRT_SANDBOX,
    checks: ['cpu'],
    expect: (r) => {
      expect(r.seccomp).toBe('2');
      expect(r.noNewPrivs).toBe('1'); // elevateprivileges=deny requires it
    },
  },
  {
    name: 'network=deny with no NIC',
    sandbox: 'on,network=deny',
    checks: ['nonet'],
    expect: (r) => {
      expect(r.seccomp).toBe('2');
      expect(r.vm.lines).toContain('QS-CHECK nonet ok lo');
    },
  },
  {
    name: 'action=log (audit mode)',
    sandbox: 'on,action=log',
    checks: ['cpu'],
    expect: (r) => {
      expect(r.seccomp).toBe('2');
    },
  },
];

describe('boot through launcher/qemu-sandboxed', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await bootOnce({ via: 'launcher', sandbox: c.sandbox, checks: c.checks });
    const why = r.vm.context();
    // Exec'd in place: the pid we spawned the launcher as is QEMU itself.
    expect({ exe: r.exe, why }).toEqual({ exe: realQemu(), why });
    expect(r.cmdline).not.toContain('-sandbox');
    expect(r.cmdline.some((a) => a.startsWith('-sandbox') || a.startsWith('--sandbox'))).toBe(
      false,
    );
    expect(r.vm.lines.some((l) => l.startsWith(GUEST_MARKER))).toBe(true);
    expect(r.vm.lines).toContain('QS-CHECKS-DONE failed=0');
    expect(r.vm.lines).toContain('QS-POWEROFF');
    expect({ exit: r.vm.describeExit(), why }).toEqual({ exit: 'exit 0', why });
    // Ours, and only ours: not "a" filter (allow-all, another policy, QEMU's own).
    expect(r.filterHashes).toEqual(expectedFilterHashes(c.sandbox));
    c.expect(r);
    process.stdout.write(
      `e2e boot [${c.name}] ${r.ms} ms, Seccomp=${r.seccomp} filters=${r.seccompFilters} NoNewPrivs=${r.noNewPrivs}\n`,
    );
  });
});
