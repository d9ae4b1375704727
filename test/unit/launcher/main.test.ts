import { extractSandbox } from '../../../src/policy/qemu-args';
import { qemuRawArgs } from '../../../launcher/main';

const cases: string[][] = [
  ['-sandbox', 'on', '-m', '512'],
  ['--sandbox=on,spawn=deny', 'disk.img', '-sandbox', 'off'],
  ['-name', '-sandbox', '-sandbox', 'on'], // -name takes "-sandbox" as its value
  ['-sandbox', 'on', 'on'],
  [],
  ['-m', '1G', '--', '-sandbox', 'x'],
];

test.each(cases)('raw arguments minus -sandbox match extractSandbox: %p', (...argv) => {
  const raw = argv.map((s) => Buffer.from(s));
  expect(qemuRawArgs(raw, argv).map(String)).toEqual(extractSandbox(argv).qemuArgs);
});

test('bytes that are not UTF-8 go through unchanged', () => {
  const raw = [
    Buffer.from('-sandbox'),
    Buffer.from('on'),
    Buffer.from([0xff, 0x2f]),
    Buffer.from('-m'),
  ];
  const strings = raw.map((b) => b.toString('utf8'));
  expect(qemuRawArgs(raw, strings)).toEqual([Buffer.from([0xff, 0x2f]), Buffer.from('-m')]);
});
