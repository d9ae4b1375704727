/**
 * One libvirtd test at a time on this machine: every test daemon (the host's
 * libvirt e2e test, host-wide mode's in a Debian root, the e2e suite inside
 * Debian 13, another checkout's run) holds an flock(1) on LIBVIRT_LOCK while
 * it lives. The Debian roots share the host's /tmp, so the lock is the same
 * file inside them. The lock is held by a child `flock` whose command reads
 * our pipe: when we release it, or when this process dies, the pipe closes,
 * the child exits and the kernel drops the lock; no stale lock survives.
 */
import { spawn } from 'node:child_process';

export const LIBVIRT_LOCK = '/tmp/qemu-sandboxed-libvirt.lock';

/** Waits up to timeoutMs for the lock (at path); resolves with its release. */
export function takeLibvirtLock(timeoutMs: number, path = LIBVIRT_LOCK): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'flock',
      [
        '--timeout',
        String(Math.ceil(timeoutMs / 1000)),
        path,
        'sh',
        '-c',
        'echo locked; exec cat >/dev/null',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let held = false;
    const release = (): void => {
      child.stdin.end();
    };
    child.stdin.on('error', () => {
      // the child is gone: nothing to release
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!held && out.includes('locked\n')) {
        held = true;
        resolve(release);
      }
    });
    child.on('error', (e) => reject(new Error(`cannot run flock for ${path}: ${e.message}`)));
    child.on('close', (code) => {
      if (!held) {
        reject(
          new Error(
            `${path} stayed held by another libvirt test for ${Math.round(timeoutMs / 1000)} s (flock exit ${code}${err ? `: ${err.trim()}` : ''})`,
          ),
        );
      }
    });
  });
}
