/**
 * -daemonize -pidfile under the default policy, the way libvirt probes QEMU's
 * capabilities: the launcher's process (QEMU's parent after the exec) exits 0
 * once the daemon is ready, the daemon runs under our filter (inherited across
 * QEMU's fork), answers QMP on a unix socket and quits cleanly.
 */
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import {
  expectedFilterHashes,
  launcherPath,
  readLoadedFilters,
  realQemu,
  requireLauncher,
} from '../helpers/guest';
import { QmpClient } from '../helpers/qmp';

jest.setTimeout(120_000);

let dir: string;
let daemonPid: number | undefined;
beforeAll(() => {
  requireLauncher();
  dir = mkdtempSync(join(tmpdir(), 'qs-e2e-daemon-'));
});
afterAll(() => {
  // Never leave a daemon behind, whatever failed (even before we read its pid).
  const pidfile = dir ? join(dir, 'qemu.pid') : '';
  if (daemonPid === undefined && pidfile && existsSync(pidfile)) {
    daemonPid = Number(readFileSync(pidfile, 'utf8').trim()) || undefined;
  }
  if (daemonPid !== undefined && existsSync(`/proc/${daemonPid}`)) {
    process.kill(daemonPid, 'SIGKILL');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

it('libvirt-style capability probe with -daemonize', async () => {
  const sock = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'qemu.pid');
  const started = Date.now();
  const r = await execa(
    launcherPath(),
    [
      '-S',
      '-no-user-config',
      '-nodefaults',
      '-nographic',
      '-machine',
      'none,accel=tcg',
      '-qmp',
      `unix:${sock},server=on,wait=off`,
      '-pidfile',
      pidfile,
      '-daemonize',
    ],
    { reject: false, timeout: 60_000, stdin: 'ignore' },
  );
  expect({ exitCode: r.exitCode, stderr: r.stderr }).toMatchObject({ exitCode: 0 });
  daemonPid = Number(readFileSync(pidfile, 'utf8').trim());
  expect(daemonPid).toBeGreaterThan(0);
  expect(readlinkSync(`/proc/${daemonPid}/exe`)).toBe(realQemu());
  const status = readFileSync(`/proc/${daemonPid}/status`, 'utf8');
  expect(status).toMatch(/^Seccomp:\s+2$/m);
  expect(readLoadedFilters(daemonPid).map((f) => f.hash)).toEqual(expectedFilterHashes(undefined));

  const qmp = await QmpClient.connect(sock, { timeoutMs: 30_000 });
  expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
  expect(await qmp.execute<unknown[]>('query-commands')).toEqual(
    expect.arrayContaining([{ name: 'query-status' }]),
  );
  await qmp.execute('quit');
  await qmp.closed;
  expect(await waitGone(daemonPid, 30_000)).toBe(true);
  process.stdout.write(`e2e daemonize probe ${Date.now() - started} ms\n`);
});
