/**
 * `export --format systemd` checked by systemd itself: the exported lines go
 * into a unit file that `systemd-analyze verify` parses with the host's
 * systemd and libseccomp. A line systemd cannot parse (a bad key, a bad
 * `name:ERRNO`, an unknown errno name) produces a warning there, and the only
 * warnings allowed are the names this libseccomp does not know, which the
 * export's notes announce. A deliberately broken line proves the check sees
 * such mistakes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { run } from './run';
import { tempDir } from '../../helpers/tmp';

const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const tmp = tempDir('qs-systemd-');
let units = 0;

/** Every warning systemd-analyze verify prints for a [Service] section holding `lines`. */
async function verify(lines: string): Promise<string[]> {
  if (!ANALYZE)
    throw new Error('systemd-analyze is not installed (Debian package systemd): cannot check');
  const unit = join(tmp, `qs-export-${++units}.service`);
  writeFileSync(
    unit,
    `[Unit]\nDescription=qemu-sandbox export check\n\n[Service]\nExecStart=/bin/true\n${lines}`,
  );
  const r = await execa(ANALYZE, ['verify', '--man=no', unit], { reject: false });
  return r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.replace(`${unit}:`, 'line '));
}

const UNKNOWN_NAME = /^line \d+: Failed to parse system call, ignoring: (\S+)$/;

test('systemd-analyze verify reports a malformed line (the check can fail)', async () => {
  const warnings = await verify('SystemCallFilter=~reboot:EBOGUS\nSystemCallFiltr=~reboot\n');
  expect(warnings.length).toBeGreaterThanOrEqual(2);
  expect(warnings.join('\n')).toMatch(/EBOGUS/);
  expect(warnings.join('\n')).toMatch(/SystemCallFiltr/);
});

test.each([
  'on',
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny',
  'on,spawn=deny,action=errno',
  'on,network=deny,action=log',
  'on,elevateprivileges=children,action=trap',
])('x86_64 %s: systemd parses every line', async (policy) => {
  const r = await run(['export', policy, '--format', 'systemd', '--arch', 'x86_64']);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const warnings = await verify(r.stdout);
  const unparsed = warnings.filter((w) => !UNKNOWN_NAME.test(w));
  expect(unparsed).toEqual([]);
  // Names libseccomp does not know are skipped, not misparsed: each is one of the policy's
  // syscalls, and the notes say that this happens and how to check.
  const named = new Set(r.stdout.match(/(?<=[~ ])[a-z_0-9]+(?=[: \n])/g) ?? []);
  for (const w of warnings) expect(named).toContain(UNKNOWN_NAME.exec(w)?.[1]);
  if (warnings.length)
    expect(r.stdout).toMatch(/^# names the host's libseccomp does not know are skipped/m);
});
