import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeCode, parseSeccompLine, parseSeccompRecords } from '../../../src/cli/audit-record';
import { kmsgToText } from '../../../src/cli/audit-source';
import { parseSince } from '../../../src/cli/since';

const FIXTURE = readFileSync(join(__dirname, 'fixtures', 'records.txt'), 'utf8');

describe('parseSeccompLine', () => {
  test('dmesg form: every field', () => {
    const r = parseSeccompLine(FIXTURE.split('\n')[0]);
    expect(r).toMatchObject({
      timeMs: 1795885106405,
      serial: 8,
      auid: 4294967295,
      uid: 0,
      gid: 0,
      ses: 4294967295,
      pid: 9064,
      comm: 'qemu-system-x86',
      exe: '/usr/bin/qemu-system-x86_64',
      sig: 31,
      arch: 0xc000003e,
      syscall: 105,
      compat: 0,
      ip: 0x7f8353c6d829n,
      code: 0x80000000,
    });
  });

  test('/dev/kmsg form with a hex-encoded comm and an extra subj= field', () => {
    const r = parseSeccompLine(FIXTURE.split('\n')[2]);
    expect(r?.comm).toBe('qemu worker');
    expect(r?.code).toBe(0x7ffc0000);
    expect(r?.syscall).toBe(57);
    expect(r?.timeMs).toBe(1795885107001);
  });

  test('journalctl form', () => {
    const r = parseSeccompLine(FIXTURE.split('\n')[3]);
    expect(r?.syscall).toBe(0x40000039);
    expect(r?.pid).toBe(9200);
  });

  test("auditd's enriched audit.log form: fields after the GS byte are ignored", () => {
    const r = parseSeccompLine(FIXTURE.split('\n')[4]);
    expect(r).toMatchObject({
      arch: 0x40000003,
      syscall: 2,
      compat: 1,
      uid: 0,
      timeMs: 1795885300250,
      serial: 11,
    });
  });

  test('ausearch -i form: names instead of numbers, local time', () => {
    const line =
      'type=SECCOMP msg=audit(11/28/2026 17:01:02.345:99) : auid=unset uid=root gid=root ses=unset pid=42 ' +
      'comm=qemu-system-x86 exe=/usr/bin/qemu-system-x86_64 sig=SIGSYS arch=x86_64 syscall=setuid compat=0 ' +
      'ip=0x7f0000000001 code=kill';
    const r = parseSeccompLine(line);
    expect(r).toMatchObject({
      archName: 'x86_64',
      syscallName: 'setuid',
      sig: 31,
      code: 0x80000000,
      comm: 'qemu-system-x86',
      serial: 99,
      timeMs: new Date(2026, 10, 28, 17, 1, 2, 345).getTime(),
    });
    expect(r?.arch).toBeUndefined();
    expect(r?.syscall).toBeUndefined();
  });

  test('lines that are not seccomp records', () => {
    expect(parseSeccompLine('[ 1.0] EXT4-fs (vda): mounted')).toBeUndefined();
    expect(
      parseSeccompLine('type=1300 audit(1.0:1): arch=c000003e syscall=59 success=yes'),
    ).toBeUndefined();
    expect(parseSeccompLine('type=1326 audit(1.0:1): no fields here')).toBeUndefined();
    expect(parseSeccompLine('')).toBeUndefined();
  });

  test('every record of the fixture, in order, and nothing else', () => {
    const records = parseSeccompRecords(FIXTURE);
    expect(records.map((r) => r.pid)).toEqual([9064, 9100, 9200, 9300, 9400, 77, 78]);
  });
});

test('describeCode names every SECCOMP_RET action', () => {
  expect(describeCode(0x80000000)).toBe('kill-process');
  expect(describeCode(0)).toBe('kill-thread');
  expect(describeCode(0x00030000)).toBe('trap');
  expect(describeCode(0x00050061)).toBe('errno 97');
  expect(describeCode(0x7fc00000)).toBe('user-notif');
  expect(describeCode(0x7ff00000)).toBe('trace');
  expect(describeCode(0x7ffc0000)).toBe('log');
  expect(describeCode(0x7fff0000)).toBe('allow');
  expect(describeCode(undefined)).toBe('unknown');
});

test('kmsgToText keeps the message and drops the prefix and continuation lines', () => {
  expect(kmsgToText(['6,1,2,-;audit: type=1326 x\n SUBSYSTEM=foo\n', '5,2,3,c;hello'])).toBe(
    'audit: type=1326 x\nhello',
  );
});

describe('parseSince', () => {
  const now = Date.UTC(2026, 10, 28, 17, 0, 0);
  test.each([
    ['10m', now - 600_000],
    ['-10m', now - 600_000],
    ['2h', now - 7_200_000],
    ['1d', now - 86_400_000],
    ['30s', now - 30_000],
    ['10 min ago', now - 600_000],
    ['@1795885106', 1795885106_000],
    ['1795885106.5', 1795885106_500],
    ['2026-11-28T16:00:00Z', Date.UTC(2026, 10, 28, 16)],
  ])('%s', (text, ms) => {
    expect(parseSince(text, now)).toBe(ms);
  });
  test('today is local midnight', () => {
    const d = new Date(now);
    d.setHours(0, 0, 0, 0);
    expect(parseSince('today', now)).toBe(d.getTime());
  });
  test.each(['garbage', '', '10 parsecs', 'yesterdayish'])('rejects %p', (text) => {
    expect(() => parseSince(text, now)).toThrow(/invalid --since/);
  });
});
