/**
 * Image headers (src/launch/image-header.ts): what qemu-img writes, read back;
 * QEMU's format probes; and headers made by hand where qemu-img would not
 * make them (the hostile ones).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import {
  HEAD_BYTES,
  ImageHeaderError,
  headerBytesNeeded,
  probeFormat,
  readReferences,
} from '../../../src/launch/image-header';
import { qcow2Header } from '../../helpers/fake-files';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'qs-image-header-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function img(name: string, ...args: string[]): Buffer {
  const path = join(dir, name);
  const r = execa.sync('qemu-img', ['create', '-q', ...args, path], { reject: false });
  if (r.exitCode !== 0) throw new Error(`qemu-img failed (run: npm run setup): ${r.stderr}`);
  return readFileSync(path);
}

/** What the launcher reads: the first bytes, then as many as the header needs. */
function head(b: Buffer): Buffer {
  return b.subarray(0, headerBytesNeeded(b.subarray(0, HEAD_BYTES)));
}

describe('images made by qemu-img', () => {
  test('qcow2: backing file and its format, data file', () => {
    img('base.qcow2', '-f', 'qcow2', '-o', 'size=1M');
    const top = img('top.qcow2', '-f', 'qcow2', '-b', join(dir, 'base.qcow2'), '-F', 'qcow2');
    expect(probeFormat(top, 'top.qcow2')).toBe('qcow2');
    expect(readReferences(head(top), 'qcow2')).toEqual({
      format: 'qcow2',
      backing: join(dir, 'base.qcow2'),
      backingFormat: 'qcow2',
    });
    writeFileSync(join(dir, 'data.raw'), '');
    const withData = img(
      'ext.qcow2',
      '-f',
      'qcow2',
      '-o',
      `data_file=${join(dir, 'data.raw')}`,
      '-o',
      'size=1M',
    );
    expect(readReferences(head(withData), 'qcow2')).toMatchObject({
      dataFile: join(dir, 'data.raw'),
      needsDataFile: true,
    });
    // qcow2 v2 (compat=0.10) and a 2 MiB cluster size.
    const v2 = img(
      'v2.qcow2',
      '-f',
      'qcow2',
      '-o',
      'compat=0.10,size=1M',
      '-b',
      'base.qcow2',
      '-F',
      'qcow2',
    );
    expect(readReferences(head(v2), 'qcow2')).toMatchObject({ backing: 'base.qcow2' });
    const big = img(
      'big.qcow2',
      '-f',
      'qcow2',
      '-o',
      'cluster_size=2M,size=4M',
      '-b',
      'base.qcow2',
      '-F',
      'qcow2',
    );
    expect(headerBytesNeeded(big.subarray(0, HEAD_BYTES))).toBe(2 * 1024 * 1024);
    expect(readReferences(head(big), 'qcow2')).toMatchObject({ backing: 'base.qcow2' });
  });

  test('qed and raw; probes', () => {
    const qed = img('a.qed', '-f', 'qed', '-b', 'base.qcow2', '-F', 'qcow2');
    expect(probeFormat(qed, 'a.qed')).toBe('qed');
    expect(readReferences(head(qed), 'qed')).toMatchObject({
      format: 'qed',
      backing: 'base.qcow2',
    });
    const raw = img('a.raw', '-f', 'raw', '-o', 'size=1M');
    expect(probeFormat(raw, 'a.raw')).toBe('raw');
    expect(readReferences(raw.subarray(0, 4096), 'raw')).toEqual({ format: 'raw' });
    expect(probeFormat(img('a.vmdk', '-f', 'vmdk', '-o', 'size=1M'), 'a.vmdk')).toBe('vmdk');
    expect(probeFormat(img('a.vdi', '-f', 'vdi', '-o', 'size=1M'), 'a.vdi')).toBe('vdi');
    expect(probeFormat(img('a.vhdx', '-f', 'vhdx', '-o', 'size=1M'), 'a.vhdx')).toBe('vhdx');
    expect(probeFormat(img('a.vpc', '-f', 'vpc', '-o', 'size=1M'), 'a.vpc')).toBe('vpc');
  });
});

describe('headers made by hand', () => {
  test('names relative, absolute, with a NUL; a vmdk descriptor is not readable', () => {
    expect(readReferences(qcow2Header({ backing: '../b.img' }), 'qcow2').backing).toBe('../b.img');
    expect(readReferences(qcow2Header({ dataFile: '/etc/shadow' }), 'qcow2').dataFile).toBe(
      '/etc/shadow',
    );
    const descriptor = Buffer.from('# Disk DescriptorFile\nversion=1\nRW 2048 FLAT "/dev/sda" 0\n');
    expect(probeFormat(descriptor, 'x.vmdk')).toBe('vmdk');
    expect(() => readReferences(descriptor, 'vmdk')).toThrow(
      /cannot read which files a vmdk image names/,
    );
  });

  test('malformed headers are errors, not "no references"', () => {
    const h = qcow2Header({ backing: 'x' });
    const badVersion = Buffer.from(h);
    badVersion.writeUInt32BE(4, 4);
    expect(() => readReferences(badVersion, 'qcow2')).toThrow(ImageHeaderError);
    const farName = Buffer.from(h);
    farName.writeBigUInt64BE(1n << 40n, 8);
    expect(() => readReferences(farName, 'qcow2')).toThrow(/beyond the first cluster/);
    const longName = Buffer.from(h);
    longName.writeUInt32BE(4096, 16);
    expect(() => readReferences(longName, 'qcow2')).toThrow(/1023/);
    const longExt = qcow2Header({ dataFile: '/x' });
    longExt.writeUInt32BE(1 << 20, 108);
    expect(() => readReferences(longExt, 'qcow2')).toThrow(/too long/);
    expect(() => readReferences(Buffer.from('not an image'), 'qcow2')).toThrow(/no QFI/);
  });
});
