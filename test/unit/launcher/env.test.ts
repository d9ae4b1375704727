import { environmentMap, qemuEnvironment } from '../../../launcher/env';

const b = (s: string): Buffer => Buffer.from(s);

test('QEMU gets every entry in order, minus QEMU_SANDBOXED_*', () => {
  const environ = [
    b('Z=1'),
    b('QEMU_SANDBOXED_BINARY=/x'),
    b('A=2'),
    b('QEMU_SANDBOXED_LOG=/l'),
    b('QEMU_SANDBOXED'),
    b('QEMU_SANDBOXEDX=3'),
  ];
  expect(qemuEnvironment(environ).map(String)).toEqual([
    'Z=1',
    'A=2',
    'QEMU_SANDBOXED',
    'QEMU_SANDBOXEDX=3',
  ]);
});

test('raw bytes pass untouched', () => {
  const odd = Buffer.from([0x41, 0x3d, 0xff, 0xfe]);
  expect(qemuEnvironment([odd])[0]).toBe(odd);
});

test('the lookup map: first entry of a name wins (getenv), values may contain =', () => {
  const m = environmentMap([b('A=1'), b('A=2'), b('B=x=y'), b('NOEQUALS'), b('=bad'), b('EMPTY=')]);
  expect({ ...m }).toEqual({ A: '1', B: 'x=y', EMPTY: '' });
});
