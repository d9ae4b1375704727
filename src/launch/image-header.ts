/**
 * What a disk image's header says about other files: its format (as QEMU's
 * probes would guess it), the backing file it names and, for qcow2, the
 * external data file. Pure: the caller passes the image's first bytes.
 *
 * These names are written by whoever made the image, so files=deny trusts
 * none of them (src/launch/files.ts): a qcow2 whose data file is /etc/shadow or
 * another VM's disk is the CVE-2024-32498 class of attack. Formats whose
 * references this module cannot read (vmdk descriptors, parallels XML) are
 * reported as such, never as "no references".
 *
 * Layouts: docs/interop/qcow2.txt (big-endian), block/qcow.c (version 1,
 * big-endian), docs/interop/qed_spec.txt (little-endian).
 */

/** What to read first: enough for every probe and for the fixed headers. */
export const HEAD_BYTES = 4096;
/** The most the readers ever need: a qcow2 header's extensions live in its first cluster (at most 2 MiB). */
export const MAX_HEADER_BYTES = 2 * 1024 * 1024;

/**
 * How many bytes from the start the references of this image lie within,
 * judged from its first HEAD_BYTES: qcow2's first cluster, or the end of a
 * qcow/qed backing file name. At least `head.length`, at most MAX_HEADER_BYTES.
 */
export function headerBytesNeeded(head: Buffer): number {
  let need = head.length;
  if (head.length >= 24 && head.readUInt32BE(0) === QCOW_MAGIC) {
    if (head.readUInt32BE(4) === 1) {
      need = Number(head.readBigUInt64BE(8)) + head.readUInt32BE(16);
    } else {
      const bits = head.readUInt32BE(20);
      need = bits >= 9 && bits <= 21 ? 1 << bits : need;
    }
  } else if (head.length >= 64 && head.readUInt32LE(0) === QED_MAGIC) {
    need = head.readUInt32LE(56) + head.readUInt32LE(60);
  }
  return Math.min(Math.max(need, head.length), MAX_HEADER_BYTES);
}

/** A format QEMU's probe could pick for an image without format=. */
export type ImageFormat =
  | 'raw'
  | 'qcow2'
  | 'qcow'
  | 'qed'
  | 'vmdk'
  | 'vdi'
  | 'vpc'
  | 'vhdx'
  | 'bochs'
  | 'cloop'
  | 'parallels'
  | 'dmg'
  | 'luks';

/** Formats whose images never name another file (QEMU opens nothing else for them). */
export const FORMATS_WITHOUT_REFERENCES: ReadonlySet<string> = new Set([
  'raw',
  'luks',
  'vdi',
  'vpc', // QEMU has no differencing VHD support: no parent is opened
  'vhdx', // QEMU refuses VHDX images with a parent
  'bochs',
  'cloop',
  'dmg',
]);

/** Formats whose references this module reads. */
export const FORMATS_WITH_READABLE_REFERENCES: ReadonlySet<string> = new Set([
  'qcow2',
  'qcow',
  'qed',
]);

export interface ImageReferences {
  readonly format: string;
  /** The backing file name as written in the header (not resolved). */
  readonly backing?: string;
  /** The backing file's format, when the header records it. */
  readonly backingFormat?: string;
  /** qcow2's external data file name (header extension 0x44415441). */
  readonly dataFile?: string;
  /** qcow2's incompatible feature bit 2: the image needs a data file. */
  readonly needsDataFile?: boolean;
}

/** An image header that is malformed where QEMU would read it. */
export class ImageHeaderError extends Error {
  override readonly name = 'ImageHeaderError';
}

const QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
const QED_MAGIC = 0x00444551; // "QED\0", little-endian
const QCOW2_EXT_END = 0x00000000;
const QCOW2_EXT_BACKING_FORMAT = 0xe2792aca;
const QCOW2_EXT_DATA_FILE = 0x44415441;
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;
/** QEMU's limit on a backing file name (qcow2, qcow, qed). */
const MAX_BACKING_NAME = 1023;

function startsWith(b: Buffer, text: string, at = 0): boolean {
  const t = Buffer.from(text, 'latin1');
  return b.length >= at + t.length && b.subarray(at, at + t.length).equals(t);
}

/**
 * The format QEMU's probes (bdrv_probe_all) would pick for these first
 * bytes: the highest score wins, raw (score 1) when nothing else matches.
 * `filename` matters for the probes that look at the name (dmg, parallels'
 * DiskDescriptor.xml).
 */
export function probeFormat(head: Buffer, filename: string): ImageFormat {
  if (head.length >= 8 && head.readUInt32BE(0) === QCOW_MAGIC) {
    return head.readUInt32BE(4) === 1 ? 'qcow' : 'qcow2';
  }
  if (head.length >= 4 && head.readUInt32LE(0) === QED_MAGIC) return 'qed';
  if (startsWith(head, 'KDMV') || startsWith(head, 'COWD')) return 'vmdk';
  if (/^\s*#\s*Disk DescriptorFile/i.test(head.subarray(0, 1024).toString('latin1'))) {
    return 'vmdk';
  }
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f) return 'vdi';
  if (startsWith(head, 'conectix')) return 'vpc';
  if (startsWith(head, 'vhdxfile')) return 'vhdx';
  if (startsWith(head, 'Bochs Virtual HD Image')) return 'bochs';
  if (startsWith(head, 'WithoutFreeSpace') || startsWith(head, 'WithouFreSpacExt')) {
    return 'parallels';
  }
  if (
    /\.xml$/i.test(filename) &&
    /<Parallels_disk_image/.test(head.subarray(0, 4096).toString('latin1'))
  ) {
    return 'parallels';
  }
  if (startsWith(head, 'LUKS\xba\xbe')) return 'luks';
  if (startsWith(head, '#!/bin/sh\n#V2.0 Format\nmodprobe cloop')) return 'cloop';
  if (/\.dmg$/i.test(filename)) return 'dmg';
  return 'raw';
}

/** A NUL-free name of `size` bytes at `offset` (QEMU reads exactly that many). */
function nameAt(head: Buffer, offset: bigint, size: number, what: string): string {
  if (size === 0) throw new ImageHeaderError(`${what} has an empty name`);
  if (size > MAX_BACKING_NAME) {
    throw new ImageHeaderError(`${what} name is ${size} bytes (QEMU refuses more than 1023)`);
  }
  const end = offset + BigInt(size);
  if (end > BigInt(head.length)) {
    throw new ImageHeaderError(
      `${what} name lies beyond the first ${head.length} bytes of the image`,
    );
  }
  const bytes = head.subarray(Number(offset), Number(end));
  // QEMU copies the bytes and stops at a NUL: so does this.
  const nul = bytes.indexOf(0);
  return (nul < 0 ? bytes : bytes.subarray(0, nul)).toString('utf8');
}

function readQcow2(head: Buffer): ImageReferences {
  if (head.length < 72) throw new ImageHeaderError('qcow2 header is truncated');
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) {
    throw new ImageHeaderError(`qcow2 version ${version} (QEMU reads 2 and 3)`);
  }
  const backingOffset = head.readBigUInt64BE(8);
  const backingSize = head.readUInt32BE(16);
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) {
    throw new ImageHeaderError(`qcow2 cluster_bits ${clusterBits} (QEMU accepts 9 to 21)`);
  }
  const clusterSize = 1 << clusterBits;
  let headerLength = 72;
  let incompatible = 0n;
  if (version === 3) {
    if (head.length < 104) throw new ImageHeaderError('qcow2 v3 header is truncated');
    incompatible = head.readBigUInt64BE(72);
    headerLength = head.readUInt32BE(100);
    if (headerLength < 104 || headerLength > clusterSize) {
      throw new ImageHeaderError(`qcow2 header_length ${headerLength} is out of range`);
    }
  }
  const out: {
    format: string;
    backing?: string;
    backingFormat?: string;
    dataFile?: string;
    needsDataFile?: boolean;
  } = { format: 'qcow2' };
  if (incompatible & QCOW2_INCOMPAT_DATA_FILE) out.needsDataFile = true;

  // Extensions run from the end of the header to the backing file name, or
  // to the end of the first cluster (qcow2_read_extensions' ext_end).
  const extEnd = backingOffset !== 0n ? Number(backingOffset) : clusterSize;
  let at = headerLength;
  while (at + 8 <= extEnd) {
    if (at + 8 > head.length) {
      throw new ImageHeaderError('qcow2 header extensions lie beyond the bytes read');
    }
    const type = head.readUInt32BE(at);
    const len = head.readUInt32BE(at + 4);
    at += 8;
    if (type === QCOW2_EXT_END) break;
    if (at + len > extEnd || at + len > head.length) {
      throw new ImageHeaderError(`qcow2 header extension 0x${type.toString(16)} is too long`);
    }
    const data = head.subarray(at, at + len);
    if (type === QCOW2_EXT_BACKING_FORMAT) out.backingFormat = data.toString('latin1');
    else if (type === QCOW2_EXT_DATA_FILE) {
      const nul = data.indexOf(0);
      out.dataFile = (nul < 0 ? data : data.subarray(0, nul)).toString('utf8');
    }
    at += (len + 7) & ~7;
  }
  if (backingOffset !== 0n) {
    if (backingOffset > BigInt(clusterSize)) {
      throw new ImageHeaderError('qcow2 backing file name lies beyond the first cluster');
    }
    out.backing = nameAt(head, backingOffset, backingSize, 'qcow2 backing file');
  }
  return out;
}

function readQcow(head: Buffer): ImageReferences {
  if (head.length < 48) throw new ImageHeaderError('qcow header is truncated');
  const backingOffset = head.readBigUInt64BE(8);
  const backingSize = head.readUInt32BE(16);
  if (backingOffset === 0n) return { format: 'qcow' };
  return {
    format: 'qcow',
    backing: nameAt(head, backingOffset, backingSize, 'qcow backing file'),
  };
}

const QED_F_BACKING_FILE = 1n;
const QED_F_BACKING_FORMAT_NO_PROBE = 4n;

function readQed(head: Buffer): ImageReferences {
  if (head.length < 64) throw new ImageHeaderError('qed header is truncated');
  const features = head.readBigUInt64LE(16);
  if (!(features & QED_F_BACKING_FILE)) return { format: 'qed' };
  const offset = head.readUInt32LE(56);
  const size = head.readUInt32LE(60);
  const backing = nameAt(head, BigInt(offset), size, 'qed backing file');
  return features & QED_F_BACKING_FORMAT_NO_PROBE
    ? { format: 'qed', backing, backingFormat: 'raw' }
    : { format: 'qed', backing };
}

/**
 * The references in an image of `format` (a format name as QEMU's driver=
 * takes it). Formats without references give just the format; others this
 * module cannot read throw ImageHeaderError, as does a malformed header.
 */
export function readReferences(head: Buffer, format: string): ImageReferences {
  switch (format) {
    case 'qcow2':
      if (head.length < 4 || head.readUInt32BE(0) !== QCOW_MAGIC) {
        throw new ImageHeaderError('not a qcow2 image (no QFI\\xfb magic)');
      }
      return readQcow2(head);
    case 'qcow':
      if (head.length < 4 || head.readUInt32BE(0) !== QCOW_MAGIC) {
        throw new ImageHeaderError('not a qcow image (no QFI\\xfb magic)');
      }
      return readQcow(head);
    case 'qed':
      if (head.length < 4 || head.readUInt32LE(0) !== QED_MAGIC) {
        throw new ImageHeaderError('not a qed image (no QED magic)');
      }
      return readQed(head);
    default:
      if (FORMATS_WITHOUT_REFERENCES.has(format)) return { format };
      throw new ImageHeaderError(
        `files=deny cannot read which files a ${format} image names (only raw, qcow2, qcow, qed ` +
          `and formats without references: ${[...FORMATS_WITHOUT_REFERENCES].join(', ')})`,
      );
  }
}
