/**
 * What the package tests' Debian roots start with (one cached root per
 * suite, shared by the install and host-mode tests): QEMU, libvirt and man,
 * as on a virtualization host before qemu-sandboxed is installed. Debian 13
 * has Node.js 20 (preinstalled here, so apt does not download it on every
 * run); Debian 12's is 18, so its root gets Node.js 20 from a stand-in
 * repository at install time (helpers/deb.ts).
 */
import type { Suite } from './debian-root';

const HOST = [
  'qemu-system-x86',
  'man-db',
  'libvirt-daemon',
  'libvirt-daemon-driver-qemu',
  'libvirt-clients',
];

export const ROOT_PACKAGES: Readonly<Record<Suite, readonly string[]>> = {
  bookworm: HOST,
  trixie: [...HOST, 'nodejs'],
};
