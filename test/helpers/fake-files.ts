/**
 * An in-memory filesystem as the files=deny analysis sees it (FileFacts):
 * what exists, what kind it is, the first bytes of image files. For unit
 * tests of src/launch/files*.ts, which never touch the real filesystem.
 */
import { dirname } from 'node:path';
import type { FileFacts, PathKind } from '../../src/launch/files-common';

export interface FakeFs {
  readonly facts: FileFacts;
  /** Adds a path (its parent directories too). */
  add(path: string, kind: PathKind, content?: Buffer): void;
  /** Makes `path` a symlink to `target` (kind and content follow it). */
  link(path: string, target: string): void;
}

/** A host with the system directories a Debian machine has. */
export function fakeHost(): FakeFs {
  const kinds = new Map<string, PathKind>();
  const contents = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const resolve = (p: string): string => {
    for (let i = 0; i < 40; i++) {
      const t = links.get(p);
      if (t === undefined) return p;
      p = t;
    }
    return p;
  };
  const addDir = (p: string): void => {
    for (let d = p; d !== '/' && !kinds.has(d); d = dirname(d)) kinds.set(d, 'dir');
    kinds.set('/', 'dir');
  };
  const fs: FakeFs = {
    add(path, kind, content) {
      addDir(dirname(path));
      kinds.set(path, kind);
      if (content) contents.set(path, content);
    },
    link(path, target) {
      addDir(dirname(path));
      links.set(path, target);
    },
    facts: {
      kind: (p) => kinds.get(resolve(p)),
      isSymlink: (p) => links.has(p),
      realpath: (p) => (kinds.has(resolve(p)) ? resolve(p) : undefined),
      readHead: (p, bytes) => {
        const c = contents.get(resolve(p));
        if (c === undefined) {
          if (kinds.get(resolve(p)) === 'file') return Buffer.alloc(0);
          throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
        }
        return c.subarray(0, bytes);
      },
      list: (p) => {
        const dir = resolve(p);
        const prefix = dir === '/' ? '/' : `${dir}/`;
        const names = new Set<string>();
        for (const k of [...kinds.keys(), ...links.keys()]) {
          if (k.startsWith(prefix) && k !== dir) {
            const rest = k.slice(prefix.length);
            if (rest !== '' && !rest.includes('/')) names.add(rest);
          }
        }
        return [...names];
      },
    },
  };
  for (const d of ['/usr/bin', '/usr/lib', '/usr/share/qemu', '/proc/sys/kernel', '/sys/kernel']) {
    fs.add(d, 'dir');
  }
  fs.link('/lib', '/usr/lib');
  fs.link('/bin', '/usr/bin');
  fs.add('/lib64', 'dir');
  fs.add('/usr/bin/qemu-system-x86_64', 'file');
  fs.add('/etc/passwd', 'file');
  fs.add('/etc/shadow', 'file');
  fs.add('/etc/ssl/certs', 'dir');
  fs.add('/etc/ssl/private', 'dir');
  fs.add('/etc/qemu', 'dir');
  for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'ptmx', 'kvm', 'vhost-net']) {
    fs.add(`/dev/${d}`, 'device');
  }
  fs.add('/dev/net/tun', 'device');
  fs.add('/dev/pts', 'dir');
  fs.add('/var/tmp', 'dir');
  fs.add('/tmp', 'dir');
  return fs;
}

/** A qcow2 v3 header (first cluster, 64 KiB clusters) naming a backing file and/or a data file. */
export function qcow2Header(opts: {
  backing?: string;
  backingFormat?: string;
  dataFile?: string;
  clusterBits?: number;
}): Buffer {
  const clusterBits = opts.clusterBits ?? 16;
  const buf = Buffer.alloc(1 << clusterBits);
  buf.writeUInt32BE(0x514649fb, 0);
  buf.writeUInt32BE(3, 4);
  buf.writeUInt32BE(clusterBits, 20);
  buf.writeUInt32BE(104, 100);
  let at = 104;
  const ext = (type: number, data: Buffer): void => {
    buf.writeUInt32BE(type, at);
    buf.writeUInt32BE(data.length, at + 4);
    data.copy(buf, at + 8);
    at += 8 + ((data.length + 7) & ~7);
  };
  if (opts.backingFormat) ext(0xe2792aca, Buffer.from(opts.backingFormat));
  if (opts.dataFile) {
    buf.writeBigUInt64BE(4n, 72); // incompatible: external data file
    ext(0x44415441, Buffer.from(opts.dataFile));
  }
  at += 8; // end of extensions (zeros)
  if (opts.backing) {
    const name = Buffer.from(opts.backing);
    buf.writeBigUInt64BE(BigInt(at), 8);
    buf.writeUInt32BE(name.length, 16);
    name.copy(buf, at);
  }
  return buf;
}
