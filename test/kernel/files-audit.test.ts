/**
 * files=deny's denials in the kernel's audit records: a stand-in QEMU (sh)
 * under `-sandbox on,files=deny` tries to read /etc/shadow, which its command
 * line does not name; `qemu-sandbox audit` reads the kernel log and names
 * QEMU's pid, the process refused, the path and access, and the extra path
 * that would allow it. Then that extra path, given as the audit says, does
 * allow it, and nothing more.
 *
 * Landlock writes its records only while audit is enabled (auditd, or
 * `auditctl -e 1`): the test enables it as auditctl would and puts back the
 * value it found. The kernel log is rate-limited, so a launch whose records
 * were dropped is tried again after the limit's interval.
 */
import { join } from 'node:path';
import execa from 'execa';
import { REPO_ROOT, buildC } from '../helpers/cbuild';
import { LAUNCHER, requireLauncher } from '../helpers/probe';
import { tempDir } from '../helpers/tmp';
import { writeFileSync } from 'node:fs';

const CLI = join(REPO_ROOT, 'launcher', 'qemu-sandbox');
const dir = tempDir('qs-files-audit-');
const CONFIG = join(dir, 'config.json');
writeFileSync(CONFIG, '{}\n');

let auditEnabled = '';
let wasEnabled: string | undefined;

beforeAll(() => {
  requireLauncher();
  auditEnabled = buildC('audit-enabled');
  wasEnabled = execa.sync(auditEnabled).stdout.trim();
  if (wasEnabled !== '1') execa.sync(auditEnabled, ['1']);
}, 60_000);

afterAll(() => {
  if (wasEnabled !== undefined && wasEnabled !== '1') execa.sync(auditEnabled, [wasEnabled]);
});

interface LandlockEntry {
  qemuPid: number | null;
  pid: number | null;
  comm: string | null;
  blockers: string[];
  path: string | null;
  access: string | null;
  allowWith: string;
}

/** The stand-in QEMU: sh -c SCRIPT, with -name after it (sh takes it as $0). */
async function launch(script: string, extraEnv: Record<string, string> = {}) {
  const child = execa(
    LAUNCHER,
    ['-sandbox', 'on,files=deny', '-c', script, '-name', 'guest=files-audit'],
    {
      env: {
        PATH: process.env.PATH,
        QEMU_SANDBOXED_BINARY: '/bin/sh',
        QEMU_SANDBOXED_CONFIG: CONFIG,
        ...extraEnv,
      },
      extendEnv: false,
      reject: false,
      cwd: dir,
    },
  );
  const pid = child.pid;
  const r = await child;
  return { pid, ...r };
}

async function denialsOf(pid: number | undefined): Promise<LandlockEntry[]> {
  const r = await execa(CLI, ['audit', '--json', '--since', '5m'], { reject: false });
  expect(r.exitCode).toBe(0);
  const all = (JSON.parse(r.stdout) as { landlock: LandlockEntry[] }).landlock;
  return all.filter((e) => e.qemuPid === pid);
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

test('a file the command line does not name: refused, recorded, and the record names the fix', async () => {
  let denials: LandlockEntry[] = [];
  let stderr = '';
  for (let attempt = 0; attempt < 4 && denials.length === 0; attempt++) {
    if (attempt > 0) await sleep(6_000); // printk's rate limit: a burst per 5 s
    const r = await launch('cat /etc/shadow');
    stderr = r.stderr;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('/etc/shadow: Permission denied');
    await sleep(500);
    denials = await denialsOf(r.pid);
  }
  expect({ denials, stderr }).toEqual({
    denials: [
      expect.objectContaining({
        comm: 'cat',
        blockers: ['fs.read_file'],
        path: '/etc/shadow',
        access: 'ro',
        allowWith:
          '"files": {"/etc/shadow": "ro"} in the site config, or QEMU_SANDBOXED_FILES=ro:/etc/shadow',
      }),
    ],
    stderr: expect.any(String),
  });
  // The process refused is cat, a child of QEMU's pid (the domain's owner).
  expect(denials[0].pid).not.toBe(denials[0].qemuPid);

  // The extra path as the audit said: reading works, writing still does not.
  const allowed = await launch('cat /etc/shadow >/dev/null && echo read; echo x >>/etc/shadow', {
    QEMU_SANDBOXED_FILES: 'ro:/etc/shadow',
  });
  expect(allowed.stdout).toBe('read');
  expect(allowed.stderr).toMatch(/\/etc\/shadow: Permission denied/);
}, 120_000);
