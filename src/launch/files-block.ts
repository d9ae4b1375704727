/**
 * files=deny, the block layer: which image files QEMU will open, and how.
 *
 * Every -drive, legacy disk option and -blockdev is read into QEMU's node
 * graph as QEMU would build it (block.c: bdrv_open_inherit and friends):
 *  - a node's driver says what it is: a protocol (file, host_device,
 *    host_cdrom: a path), a format (qcow2, raw...: a `file` child, and
 *    `backing` / `data-file`), a filter (throttle, copy-on-read...), a
 *    network driver (no file), or a node without driver, whose format QEMU
 *    probes;
 *  - children are nested options (`file.filename=x`, JSON objects) or
 *    references to other nodes by node name (-blockdev, libvirt's way);
 *  - write access flows down from the root: a read-only node opens its
 *    children read-only, and backing files are always opened read-only.
 * Then, for each format node whose backing file or data file the command
 * line does not give (key absent), the image header decides what QEMU would
 * open (image-header.ts), and that file must be named by the command line or
 * the operator's extra paths: headers are written by whoever made the image.
 */
import { dirname, isAbsolute, join } from 'node:path';
import {
  FORMATS_WITHOUT_REFERENCES,
  FORMATS_WITH_READABLE_REFERENCES,
  HEAD_BYTES,
  ImageHeaderError,
  headerBytesNeeded,
  probeFormat,
  readReferences,
} from './image-header';
import {
  Opts,
  absolute,
  extraFix,
  protocolOf,
  type FilesInput,
  type FilesRefusal,
  type Need,
} from './files-common';

/** One -drive (or legacy disk option), ready for the graph. */
export interface DriveSpec {
  readonly arg: string;
  readonly opts: Opts;
  /** readonly=on, media=cdrom, snapshot=on or -snapshot: the image is opened read-only. */
  readonly readOnly: boolean;
  /** snapshot=on (or -snapshot): a temporary overlay in $TMPDIR or /var/tmp takes the writes. */
  readonly snapshot: boolean;
}

export interface BlockdevSpec {
  readonly arg: string;
  readonly opts: Opts;
}

/** Drivers that are a path on the host. */
const PROTOCOL_FILE_DRIVERS = new Set(['file', 'host_device', 'host_cdrom']);
/** Format drivers (a `file` child; some also `backing` and `data-file`). */
const FORMAT_DRIVERS = new Set([
  ...FORMATS_WITHOUT_REFERENCES,
  ...FORMATS_WITH_READABLE_REFERENCES,
  'vmdk',
  'parallels',
]);
/** Filters with one `file` child (opened with format probing, like a root). */
const FILE_FILTERS = new Set(['throttle', 'copy-on-read', 'preallocate', 'compress', 'blkreplay']);
/** Drivers that reach their data over the network: no path on the host. */
const NETWORK_DRIVERS = new Set([
  'nbd',
  'iscsi',
  'http',
  'https',
  'ftp',
  'ftps',
  'nfs',
  'gluster',
  'rbd',
]);
/** Filename prefixes (path_has_protocol) of those network drivers. */
const NETWORK_PROTOCOLS = new Set([
  ...NETWORK_DRIVERS,
  'nbd+tcp',
  'nbd+unix',
  'iser',
  'gluster+tcp',
  'gluster+unix',
  'gluster+rdma',
]);
/** Chains deeper than this are refused (QEMU has no fixed limit; a loop has none). */
const MAX_CHAIN = 64;

/** A node: the options of its spec, seen at `prefix` ("" or "backing.file." ...). */
interface Node {
  readonly arg: string;
  readonly opts: Opts;
  readonly prefix: string;
  /** The top of a -drive: its `file` is a filename, not a node reference. */
  readonly driveTop: boolean;
}

type Level = 'format' | 'protocol';

/** A file the command line names, with the access QEMU opens it with. */
interface NamedImage {
  readonly path: string;
  readonly writable: boolean;
  readonly arg: string;
}

/** A format node whose header decides its backing file or data file. */
interface HeaderCheck {
  readonly node: Node;
  readonly format: string | undefined;
  readonly file: Node | undefined;
  readonly writable: boolean;
  readonly needBacking: boolean;
  readonly needData: boolean;
}

export interface BlockResult {
  readonly needs: Need[];
  readonly refusals: FilesRefusal[];
}

/** Parses a filename that may carry `json:` or a protocol prefix into a node of its own. */
function filenameNode(filename: string, arg: string): Node | { readonly refuse: string } {
  const opts = new Opts('');
  if (/^json:/i.test(filename)) {
    const json = new Opts(filename.slice(5));
    if (json.malformed || !filename.slice(5).trim().startsWith('{')) {
      return { refuse: `the json: filename is not a JSON object` };
    }
    return { arg, opts: json, prefix: '', driveTop: false };
  }
  const proto = protocolOf(filename);
  if (proto === undefined) {
    opts.set('driver', 'file');
    opts.set('filename', filename);
  } else if (PROTOCOL_FILE_DRIVERS.has(proto)) {
    opts.set('driver', proto);
    opts.set('filename', filename.slice(proto.length + 1));
  } else if (proto === 'fat') {
    // fat:[floppy:][rw:]DIR
    let rest = filename.slice(4);
    let rw = false;
    for (;;) {
      if (/^floppy:/.test(rest)) rest = rest.slice(7);
      else if (/^rw:/.test(rest)) {
        rw = true;
        rest = rest.slice(3);
      } else break;
    }
    opts.set('driver', 'vvfat');
    opts.set('dir', rest);
    if (rw) opts.set('rw', 'on');
  } else if (NETWORK_PROTOCOLS.has(proto.toLowerCase())) {
    opts.set('driver', 'nbd-or-network');
  } else if (proto === 'null-co' || proto === 'null-aio') {
    opts.set('driver', proto);
  } else {
    return {
      refuse: `the filename has the protocol prefix ${proto}:, which files=deny does not know`,
    };
  }
  return { arg, opts, prefix: '', driveTop: false };
}

export function analyzeBlock(
  drives: readonly DriveSpec[],
  blockdevs: readonly BlockdevSpec[],
  input: FilesInput,
): BlockResult {
  const needs: Need[] = [];
  const refusals: FilesRefusal[] = [];
  const images: NamedImage[] = [];
  const checks: HeaderCheck[] = [];
  const named = new Map<string, Node>();
  const visited = new Map<string, boolean>();
  const abs = (p: string): string => absolute(input.cwd, p);
  const refuse = (arg: string, message: string, fix: string): void => {
    refusals.push({ arg, message, fix });
  };

  const tops: Array<{ node: Node; writable: boolean }> = [];
  for (const d of drives) {
    const node: Node = { arg: d.arg, opts: d.opts, prefix: '', driveTop: true };
    const id = d.opts.get('id');
    if (id !== undefined) named.set(id, node);
    const nodeName = d.opts.get('node-name');
    if (nodeName !== undefined) named.set(nodeName, node);
    tops.push({ node, writable: !d.readOnly });
    if (d.snapshot) {
      const tmp = input.env.TMPDIR || '/var/tmp';
      needs.push({
        kind: 'scratch',
        path: tmp,
        why: `${d.arg}: snapshot=on keeps its temporary overlay in ${input.env.TMPDIR ? '$TMPDIR' : '/var/tmp'}`,
      });
    }
  }
  const blockdevNodes: Node[] = [];
  for (const b of blockdevs) {
    const node: Node = { arg: b.arg, opts: b.opts, prefix: '', driveTop: false };
    if (b.opts.malformed) {
      refuse(b.arg, 'the option is not valid JSON', 'fix the JSON (QEMU refuses it too)');
      continue;
    }
    const nodeName = b.opts.get('node-name');
    if (nodeName !== undefined) named.set(nodeName, node);
    blockdevNodes.push(node);
  }

  // A node is its option set (by identity: a filename makes a set of its own) at a prefix.
  const ids = new Map<Opts, number>();
  const key = (n: Node): string => {
    let id = ids.get(n.opts);
    if (id === undefined) {
      id = ids.size;
      ids.set(n.opts, id);
    }
    return `${id}\u0000${n.prefix}`;
  };
  const nested = (n: Node, child: string): boolean =>
    n.opts.keys().some((k) => k.startsWith(`${n.prefix}${child}.`));

  /** The child `name` of `n`: nested options, a node reference, a filename, or nothing. */
  const childOf = (n: Node, name: string): Node | undefined => {
    if (nested(n, name)) {
      return { arg: n.arg, opts: n.opts, prefix: `${n.prefix}${name}.`, driveTop: false };
    }
    const v = n.opts.get(`${n.prefix}${name}`);
    if (v === undefined || v === '') return undefined;
    if (n.driveTop && name === 'file') {
      const f = filenameNode(v, n.arg);
      if ('refuse' in f) {
        refuse(n.arg, f.refuse, 'use a plain path, or a -blockdev chain of known drivers');
        return undefined;
      }
      return f;
    }
    // A node reference (-blockdev node-name or -drive id); an unknown one fails in QEMU.
    return named.get(v);
  };

  const visit = (n: Node, writable: boolean, level: Level, depth: number): void => {
    if (depth > MAX_CHAIN) {
      refuse(n.arg, `the block graph is deeper than ${MAX_CHAIN} nodes`, 'use a shorter chain');
      return;
    }
    const k = key(n);
    const seen = visited.get(k);
    const w = writable && !n.opts.isOn(`${n.prefix}read-only`);
    if (seen !== undefined && (seen || !w)) return;
    visited.set(k, w);
    const P = n.prefix;
    const driver = n.opts.get(`${P}driver`) ?? (n.driveTop ? n.opts.get('format') : undefined);

    if (driver === undefined) {
      const filename = n.opts.get(`${P}filename`);
      if (level === 'protocol') {
        if (filename === undefined) return; // QEMU refuses a protocol node without one
        const f = filenameNode(filename, n.arg);
        if ('refuse' in f) {
          refuse(n.arg, f.refuse, 'use a plain path, or a -blockdev chain of known drivers');
          return;
        }
        visit(f, w, 'protocol', depth + 1);
        return;
      }
      // A format node without driver: QEMU probes the format of its file.
      let file = childOf(n, 'file');
      if (file === undefined && filename !== undefined) {
        const f = filenameNode(filename, n.arg);
        if ('refuse' in f) {
          refuse(n.arg, f.refuse, 'use a plain path, or a -blockdev chain of known drivers');
          return;
        }
        file = f;
      }
      if (file === undefined) return; // an empty drive (a CD-ROM without medium)
      visit(file, w, 'protocol', depth + 1);
      formatChildren(n, undefined, file, w, depth);
      return;
    }

    if (PROTOCOL_FILE_DRIVERS.has(driver)) {
      const filename = n.opts.get(`${P}filename`);
      if (filename === undefined || filename.startsWith('/dev/fdset/')) return;
      images.push({ path: abs(filename), writable: w, arg: n.arg });
      return;
    }
    if (FORMAT_DRIVERS.has(driver)) {
      const file = childOf(n, 'file');
      if (file !== undefined) visit(file, w, 'protocol', depth + 1);
      if (driver === 'vmdk' || driver === 'parallels') {
        refuse(
          n.arg,
          `a ${driver} image names its other files (extents, parent) in a descriptor that files=deny cannot read`,
          'convert it to qcow2 or raw (qemu-img convert), or use files=allow',
        );
        return;
      }
      formatChildren(n, driver, file, w, depth);
      return;
    }
    if (FILE_FILTERS.has(driver)) {
      const file = childOf(n, 'file');
      if (file !== undefined) visit(file, w, 'format', depth + 1);
      return;
    }
    if (driver === 'quorum') {
      const indexes = new Set<string>();
      for (const k2 of n.opts.keys()) {
        const m = new RegExp(`^${escapeRe(P)}children\\.(\\d+)`).exec(k2);
        if (m) indexes.add(m[1]);
      }
      for (const i of indexes) {
        const c = childOf(n, `children.${i}`);
        if (c !== undefined) visit(c, w, 'format', depth + 1);
      }
      return;
    }
    if (driver === 'blklogwrites' || driver === 'copy-before-write') {
      for (const name of driver === 'blklogwrites' ? ['file', 'log'] : ['file', 'target']) {
        const c = childOf(n, name);
        if (c !== undefined) visit(c, w, 'format', depth + 1);
      }
      return;
    }
    if (NETWORK_DRIVERS.has(driver) || driver === 'nbd-or-network') {
      const conf = driver === 'rbd' ? n.opts.get(`${P}conf`) : undefined;
      if (conf !== undefined) {
        needs.push({ kind: 'read', path: abs(conf), why: `${n.arg}: rbd configuration` });
      }
      return;
    }
    if (driver === 'null-co' || driver === 'null-aio') return;
    if (driver === 'vvfat') {
      const dir = n.opts.get(`${P}dir`);
      if (dir === undefined) return;
      if (n.opts.isOn(`${P}rw`)) {
        refuse(
          n.arg,
          'a writable vvfat (fat:rw:) directory writes back into the directory and keeps an overlay in /var/tmp',
          'use fat: read-only, a 9p or virtiofs share, or files=allow',
        );
        return;
      }
      needs.push({ kind: 'tree', path: abs(dir), write: false, why: `${n.arg}: vvfat directory` });
      return;
    }
    if (driver === 'nvme') {
      needs.push({
        kind: 'device',
        path: '/dev/vfio',
        write: true,
        why: `${n.arg}: the userspace NVMe driver uses VFIO`,
      });
      return;
    }
    if (driver === 'ssh') {
      refuse(
        n.arg,
        "the ssh driver reads the user's known_hosts and keys, which files=deny does not grant",
        'export the image over NBD instead, or use files=allow',
      );
      return;
    }
    refuse(
      n.arg,
      `block driver ${driver}: files=deny does not know which files it opens`,
      'use file/host_device with a format (raw, qcow2...), or files=allow',
    );
  };

  /** A format node's backing and data-file children, and what its header must tell. */
  const formatChildren = (
    n: Node,
    driver: string | undefined,
    file: Node | undefined,
    w: boolean,
    depth: number,
  ): void => {
    const P = n.prefix;
    const mayReference = driver === undefined || FORMATS_WITH_READABLE_REFERENCES.has(driver);
    if (!mayReference) return;
    const backingGiven = n.opts.has(`${P}backing`) || nested(n, 'backing');
    if (backingGiven) {
      const b = childOf(n, 'backing');
      // Backing files are opened read-only (bdrv_backing_options).
      if (b !== undefined) visit(b, false, 'format', depth + 1);
    }
    const dataGiven = n.opts.has(`${P}data-file`) || nested(n, 'data-file');
    if (dataGiven) {
      const d = childOf(n, 'data-file');
      if (d !== undefined) visit(d, w, 'protocol', depth + 1);
    }
    checks.push({
      node: n,
      format: driver,
      file,
      writable: w,
      needBacking: !backingGiven,
      needData: !dataGiven && (driver === undefined || driver === 'qcow2'),
    });
  };

  // The roots: every -drive, and the -blockdev nodes no other node refers to
  // (a device or the machine uses them as they say: read-write unless read-only=on).
  // A node referred to takes its access from the nodes that refer to it.
  const referenced = new Set<string>();
  for (const n of [...tops.map((t) => t.node), ...blockdevNodes]) {
    for (const k of n.opts.keys()) {
      if (n.driveTop && k === 'file') continue; // -drive file= is a filename
      if (!/(^|\.)(file|backing|data-file|log|target|children\.\d+)$/.test(k)) continue;
      const v = n.opts.get(k);
      if (v !== undefined && named.has(v)) referenced.add(v);
    }
  }
  for (const t of tops) visit(t.node, t.writable, 'format', 0);
  for (const b of blockdevNodes) {
    const name = b.opts.get('node-name');
    if (name === undefined || !referenced.has(name)) visit(b, true, 'format', 0);
  }
  // Only in a loop of references (QEMU refuses those): as they say.
  for (const b of blockdevNodes) if (!visited.has(key(b))) visit(b, true, 'format', 0);

  for (const img of images) {
    needs.push({
      kind: img.writable ? 'write' : 'read',
      path: img.path,
      why: `${img.arg}: disk image${img.writable ? '' : ' (read-only)'}`,
    });
  }

  // ---- the headers ---------------------------------------------------------
  const realOf = (p: string): string => input.facts.realpath(p) ?? p;
  const namedReal = images.map((i) => ({ ...i, real: realOf(i.path) }));
  const extrasReal = input.extras.map((e) => ({ ...e, real: realOf(e.path) }));
  /** Whether the command line or the extra paths name `path` with at least `access`. */
  const allowed = (path: string, access: 'ro' | 'rw'): boolean => {
    const real = realOf(path);
    if (namedReal.some((i) => i.real === real && (access === 'ro' || i.writable))) return true;
    return extrasReal.some(
      (e) =>
        (e.real === real || real.startsWith(`${e.real.replace(/\/$/, '')}/`)) &&
        (access === 'ro' || e.access === 'rw'),
    );
  };

  /** The path of the file under a format node, through filters; undefined over the network. */
  const fileOf = (n: Node | undefined, depth = 0): string | undefined => {
    if (n === undefined || depth > MAX_CHAIN) return undefined;
    const driver = n.opts.get(`${n.prefix}driver`);
    if (driver !== undefined && PROTOCOL_FILE_DRIVERS.has(driver)) {
      const f = n.opts.get(`${n.prefix}filename`);
      return f === undefined ? undefined : abs(f);
    }
    if (driver === undefined) {
      const f = n.opts.get(`${n.prefix}filename`);
      if (f !== undefined) {
        const fn = filenameNode(f, n.arg);
        return 'refuse' in fn ? undefined : fileOf(fn, depth + 1);
      }
    }
    if (driver !== undefined && FILE_FILTERS.has(driver))
      return fileOf(childOf(n, 'file'), depth + 1);
    return undefined;
  };

  const chained = new Set<string>();
  const readHeader = (
    arg: string,
    path: string,
    declared: string | undefined,
    writable: boolean,
    needBacking: boolean,
    needData: boolean,
    suggestPrefix: string | undefined,
    depth: number,
  ): void => {
    if (depth > MAX_CHAIN) {
      refuse(
        arg,
        `${path}: the backing chain is longer than ${MAX_CHAIN} images`,
        'shorten it (qemu-img rebase)',
      );
      return;
    }
    let head: Buffer;
    try {
      head = input.facts.readHead(path, HEAD_BYTES);
      const more = headerBytesNeeded(head);
      if (more > head.length && head.length === HEAD_BYTES) head = input.facts.readHead(path, more);
    } catch {
      return; // missing or unreadable: QEMU fails to open it, and says so itself
    }
    const format = declared ?? probeFormat(head, path);
    if (format === 'vmdk' || format === 'parallels') {
      refuse(
        arg,
        `${path} is a ${format} image: files=deny cannot read which files it names (extents, parent)`,
        'convert it to qcow2 or raw (qemu-img convert), or use files=allow',
      );
      return;
    }
    let refs;
    try {
      refs = readReferences(head, format);
    } catch (e) {
      if (!(e instanceof ImageHeaderError)) throw e;
      refuse(
        arg,
        `cannot read the ${format} header of ${path}: ${e.message}`,
        'check the image (qemu-img check / qemu-img info), or use files=allow',
      );
      return;
    }
    if (needBacking && refs.backing !== undefined) {
      const target = headerTarget(refs.backing, path, 'backing');
      if ('refuse' in target) {
        refuse(
          arg,
          `${path} names its backing file "${refs.backing}": ${target.refuse}`,
          target.fix,
        );
      } else if (!allowed(target.path, 'ro')) {
        const how =
          suggestPrefix === undefined
            ? 'give this node backing=NODE with the backing file as -blockdev nodes (as libvirt does)'
            : `add ${suggestPrefix}backing.file.filename=${target.path} to it, or give a -blockdev chain with backing= (as libvirt does)`;
        refuse(
          arg,
          `${path} names ${target.path} as its backing file, in its header; files=deny does not trust image headers (whoever made the image wrote them)`,
          `name the backing file on the command line: ${how}; or allow it: ${extraFix(target.path, 'ro')}`,
        );
      } else if (!chained.has(realOf(target.path))) {
        chained.add(realOf(target.path));
        needs.push({
          kind: 'read',
          path: target.path,
          why: `${arg}: backing file of ${path} (read-only)`,
        });
        readHeader(
          arg,
          target.path,
          refs.backingFormat,
          false,
          true,
          true,
          suggestPrefix === undefined ? undefined : `${suggestPrefix}backing.`,
          depth + 1,
        );
      }
    }
    if (needData && refs.dataFile !== undefined) {
      const access = writable ? 'rw' : 'ro';
      if (!isAbsolute(refs.dataFile)) {
        refuse(
          arg,
          `${path} names the relative data file "${refs.dataFile}" in its header (QEMU versions differ on what it is relative to)`,
          `give data-file on the command line (data-file.driver=file,data-file.filename=PATH, or a -blockdev node), or make it absolute (qemu-img amend -o data_file=PATH ${path})`,
        );
      } else if (!allowed(refs.dataFile, access)) {
        const how =
          suggestPrefix === undefined
            ? 'give this node data-file=NODE with the data file as a -blockdev node'
            : `add ${suggestPrefix}data-file.driver=file,${suggestPrefix}data-file.filename=${refs.dataFile} to it`;
        refuse(
          arg,
          `${path} names ${refs.dataFile} as its external data file, in its header; files=deny does not trust image headers (a data file pointing at a host file or another VM's disk gives the guest that file)`,
          `if that is really this image's data file, name it on the command line: ${how}; or allow it: ${extraFix(refs.dataFile, access)}`,
        );
      } else {
        needs.push({
          kind: writable ? 'write' : 'read',
          path: refs.dataFile,
          why: `${arg}: data file of ${path}`,
        });
      }
    }
  };

  for (const c of checks) {
    if (!c.needBacking && !c.needData) continue;
    const path = fileOf(c.file);
    if (path === undefined) {
      if (c.file !== undefined && c.format !== undefined) {
        refuse(
          c.node.arg,
          `files=deny cannot read the header of a ${c.format} image that is not a local file, so not which files it names`,
          'give backing= (or backing=null) and data-file= on the command line, or use files=allow',
        );
      }
      continue;
    }
    readHeader(
      c.node.arg,
      path,
      c.format,
      c.writable,
      c.needBacking,
      c.needData,
      c.node.driveTop || c.node.prefix !== '' ? c.node.prefix : undefined,
      0,
    );
  }
  return { needs, refusals };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where a name from an image header points, as QEMU combines it (path_combine). */
function headerTarget(
  name: string,
  image: string,
  what: string,
): { readonly path: string } | { readonly refuse: string; readonly fix: string } {
  let n = name;
  const proto = protocolOf(n);
  if (proto === 'file') n = n.slice(5);
  else if (proto !== undefined) {
    return {
      refuse: `a ${proto}: name, not a plain path; files=deny follows only plain paths in image headers`,
      fix: `name the ${what} on the command line as -blockdev nodes (as libvirt does), or use files=allow`,
    };
  }
  return { path: isAbsolute(n) ? n : join(dirname(image), n) };
}
