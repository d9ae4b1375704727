/**
 * The test guest's cache: the image in .cache/guest/<key> is keyed on what it
 * is made of (the build script, busybox-static, linux-image-amd64), so a
 * changed script or package rebuilds it instead of booting a stale guest.
 */
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import execa from 'execa';
import { guestKey } from '../../scripts/lib/guest';
import { guest, repoRoot } from '../helpers/guest';
import { literal } from '../helpers/regexp';

jest.setTimeout(20 * 60_000); // the first run builds the guest

const script = join(repoRoot(), 'scripts', 'build-guest.sh');

it('is stored under the key of the current script and packages', async () => {
  const image = await guest();
  expect(basename(image.dir)).toBe(guestKey(script));
  // The kernel in the image is the one apt resolves linux-image-amd64 to now.
  const meta = execa.sync('apt-cache', ['show', '--no-all-versions', 'linux-image-amd64']).stdout;
  expect(meta).toMatch(new RegExp(`^Depends:.*\\b${literal(image.kernelPackage)} `, 'm'));
  expect(image.kernelPackage).toBe(`linux-image-${image.kernelRelease}`);
  const env = readFileSync(join(image.dir, 'guest.env'), 'utf8');
  expect(env).toMatch(new RegExp(`^KERNEL_RELEASE=${literal(image.kernelRelease)}$`, 'm'));
  // The disk check's drivers: each either shipped as a module (Debian 12) or
  // built into the kernel (Debian 13's virtio_pci), never neither or both.
  const list = (key: string): string[] =>
    (env.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1] ?? '').split(' ').filter(Boolean);
  const shipped = list('MODULES');
  const builtIn = list('BUILTIN_MODULES');
  for (const m of ['virtio_pci', 'virtio_blk']) {
    const exactlyOne = shipped.includes(m) !== builtIn.includes(m);
    expect({ m, shipped, builtIn, exactlyOne }).toEqual({ m, shipped, builtIn, exactlyOne: true });
  }
});

it('changes when the build script changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qs-guest-key-'));
  try {
    const copy = join(dir, 'build-guest.sh');
    copyFileSync(script, copy);
    expect(guestKey(copy)).toBe(guestKey(script));
    appendFileSync(copy, '# one more line\n');
    expect(guestKey(copy)).not.toBe(guestKey(script));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
