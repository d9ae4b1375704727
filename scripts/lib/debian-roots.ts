/**
 * The one package list per Debian release that every Debian root of a test
 * run is built with (scripts/debian-root.sh caches a pristine root per list):
 * one trixie root serves the kernel and e2e suites inside Debian 13
 * (scripts/debian-suites.ts) and the package tests' fresh Debian 13 roots;
 * one bookworm root serves the package tests' fresh Debian 12 roots. A second
 * list for the same release would mean a second build of minutes in every
 * CI run (CI starts with no cached roots).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './guest';

export type Suite = 'bookworm' | 'trixie';

/** Debian's release numbers, for names and labels. */
export const SUITE_VERSION: Readonly<Record<Suite, string>> = { bookworm: '12', trixie: '13' };

/**
 * A virtualization host before qemu-sandboxed is installed: what the package
 * tests install the .deb onto (its Depends then resolve from the root).
 */
const VIRT_HOST = [
  'qemu-system-x86',
  'man-db',
  'libvirt-daemon',
  'libvirt-daemon-driver-qemu',
  'libvirt-clients',
];

/**
 * What the suites inside Debian 13 need beyond scripts/setup.sh's packages:
 * Node (Debian 13's is 20), npm, node-gyp's tools and Node's headers.
 */
const SUITES_EXTRA = ['nodejs', 'npm', 'ca-certificates', 'python3', 'make', 'g++', 'libnode-dev'];

/** The Debian packages scripts/setup.sh installs for the suites. */
function setupPackages(): string[] {
  const r = spawnSync('sh', [join(repoRoot(), 'scripts', 'setup.sh'), '--print-packages'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error('scripts/setup.sh --print-packages failed');
  return r.stdout.split('\n').filter(Boolean);
}

/**
 * The package list of SUITE's root, sorted and deduplicated. Debian 12's
 * nodejs is 18, so its root has none: the package tests add a Node.js 20
 * stand-in repository, as Debian 12 users add a vendor's.
 */
export function rootPackages(suite: Suite): string[] {
  const list = suite === 'trixie' ? [...setupPackages(), ...SUITES_EXTRA, ...VIRT_HOST] : VIRT_HOST;
  return [...new Set(list)].sort();
}
