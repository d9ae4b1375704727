/**
 * The machine-wide lock every test libvirtd holds (scripts/lib/libvirt-lock.ts),
 * on a lock file of this test's own: a second taker waits for the first's
 * release, gives up with the reason after its time, and a holder that dies
 * leaves no stale lock.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { takeLibvirtLock } from '../../scripts/lib/libvirt-lock';
import { repoRoot } from '../../scripts/lib/guest';
import { tempDir } from '../helpers/tmp';

jest.setTimeout(60_000);

const lockFile = (): string => join(tempDir('qs-lv-lock-'), 'lock');

test('a second taker gets the lock only after the first released it', async () => {
  const path = lockFile();
  const releaseFirst = await takeLibvirtLock(5_000, path);
  let second = false;
  const waiting = takeLibvirtLock(30_000, path).then((release) => {
    second = true;
    return release;
  });
  await new Promise((r) => setTimeout(r, 1_500));
  expect(second).toBe(false);
  releaseFirst();
  const releaseSecond = await waiting;
  expect(second).toBe(true);
  releaseSecond();
});

test('a taker that waits too long fails naming the lock', async () => {
  const path = lockFile();
  const release = await takeLibvirtLock(5_000, path);
  try {
    await expect(takeLibvirtLock(1_000, path)).rejects.toThrow(
      `${path} stayed held by another libvirt test`,
    );
  } finally {
    release();
  }
});

test('a holder killed by SIGKILL leaves no stale lock', async () => {
  const path = lockFile();
  // The built helper in a Node process of its own, which then dies.
  const helper = join(repoRoot(), 'dist', 'scripts', 'lib', 'libvirt-lock.js');
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `require(process.argv[1]).takeLibvirtLock(5000, process.argv[2]).then(() => console.log('held'))`,
      helper,
      path,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  await expect(takeLibvirtLock(1_000, path)).rejects.toThrow(/stayed held/);
  holder.kill('SIGKILL');
  const release = await takeLibvirtLock(10_000, path);
  release();
});
