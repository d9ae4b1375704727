import {
  cmdlineArgs,
  decodeEnviron,
  parseFds,
  parseNofile,
  parseSignals,
  parseTrampolineArgs,
  splitCmdline,
} from '../../../launcher/state';
import { LaunchError } from '../../../src/launch/errors';

const b = (s: string): Buffer => Buffer.from(s);

describe('parseFds', () => {
  test("fd 0 recorded as '-' takes its status flags from this process, without FD_CLOEXEC", () => {
    // Node marks fd 0 close-on-exec before we run; the status flags (here
    // O_NONBLOCK|O_RDWR) are the caller's.
    const asked: number[] = [];
    const now = (fd: number): string => {
      asked.push(fd);
      return '02004002';
    };
    expect(parseFds('fds= 0:- 1:0100001', now)).toEqual([
      { fd: 0, flags: 0o4002 },
      { fd: 1, flags: 0o100001 },
    ]);
    expect(asked).toEqual([0]);
  });

  test('keeps inheritable fds, drops close-on-exec ones, sorts by number', () => {
    expect(parseFds('fds= 0:0100002 1:01 10:02100000 2:04001 200:00')).toEqual([
      { fd: 0, flags: 0o100002 },
      { fd: 1, flags: 0o1 },
      { fd: 2, flags: 0o4001 },
      { fd: 200, flags: 0 },
    ]);
  });
  test('no fds at all (everything closed)', () => {
    expect(parseFds('fds=')).toEqual([]);
  });
  test.each(['fd= 0:1', 'fds= 0:9', 'fds= x:01', 'fds= 0:'])('refuses %p', (s) => {
    expect(() => parseFds(s)).toThrow(LaunchError);
  });
});

describe('parseSignals', () => {
  test('hex masks, bit n-1 = signal n', () => {
    expect(parseSignals('sig= SigBlk:0000000000004800 SigIgn:0000000180000001')).toEqual({
      blocked: 0x4800n,
      ignored: 0x180000001n,
    });
  });
  test.each(['sig= SigBlk:00', 'sig= SigIgn:00', 'sig= SigBlk:zz SigIgn:00', 'sig='])(
    'refuses %p',
    (s) => {
      expect(() => parseSignals(s)).toThrow(
        /must be started by the launcher\/qemu-sandboxed script/,
      );
    },
  );
});

describe('parseNofile', () => {
  test('numbers and unlimited', () => {
    expect(parseNofile('nofile=1024:524288')).toEqual({ soft: 1024n, hard: 524288n });
    expect(parseNofile('nofile=unlimited:unlimited')).toEqual({
      soft: 2n ** 64n - 1n,
      hard: 2n ** 64n - 1n,
    });
  });
  test.each(['nofile=', 'nofile=1024', 'nofile=a:b', 'files=1:2'])('refuses %p', (s) => {
    expect(() => parseNofile(s)).toThrow(LaunchError);
  });
});

describe('decodeEnviron', () => {
  const environ = Buffer.concat([
    b('A=1\0'),
    b('B=x=y\0'),
    Buffer.from([0x43, 0x3d, 0xff, 0]),
    b('EMPTY=\0'),
  ]);
  test('splits NUL-terminated entries, raw bytes kept', () => {
    const text = environ.toString('base64');
    expect(decodeEnviron([text])).toEqual([
      b('A=1'),
      b('B=x=y'),
      Buffer.from([0x43, 0x3d, 0xff]),
      b('EMPTY='),
    ]);
  });
  test('chunks are concatenated at any boundary', () => {
    const text = environ.toString('base64');
    expect(decodeEnviron([text.slice(0, 3), text.slice(3, 10), text.slice(10)])).toEqual(
      decodeEnviron([text]),
    );
  });
  test('no chunks: an empty environment', () => {
    expect(decodeEnviron([])).toEqual([]);
  });
  test('refuses what is not base64', () => {
    expect(() => decodeEnviron(['not base64!'])).toThrow(LaunchError);
  });
});

describe('parseTrampolineArgs', () => {
  const env64 = Buffer.from('PATH=/bin\0X=1\0').toString('base64');
  const head = [
    '/usr/bin/qemu-system-x86_64-sandboxed',
    'fds= 0:02 1:01',
    'sig= SigBlk:0 SigIgn:1',
    'nofile=10:20',
  ];
  test('state, environment and the QEMU arguments after --', () => {
    const s = parseTrampolineArgs([...head, env64, '--', '-m', '--', '512'].map(b));
    expect(s.invokedAs).toBe(head[0]);
    expect(s.fds.map((f) => f.fd)).toEqual([0, 1]);
    expect(s.environ.map(String)).toEqual(['PATH=/bin', 'X=1']);
    // only the first -- separates: a later one is QEMU's
    expect(s.args.map(String)).toEqual(['-m', '--', '512']);
  });
  test('no QEMU arguments', () => {
    expect(parseTrampolineArgs([...head, env64, '--'].map(b)).args).toEqual([]);
  });
  test('run without the trampoline: a clear error, exit 1', () => {
    let err: unknown;
    try {
      parseTrampolineArgs(['-version'].map(b));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).exitCode).toBe(1);
    expect((err as LaunchError).message).toMatch(
      /must be started by the launcher\/qemu-sandboxed script/,
    );
  });
});

describe('cmdlineArgs', () => {
  const cmdline = Buffer.from('node\0--opt\0/x/main.js\0a\0\xff\0', 'latin1');
  test('takes the bytes after node, its options and the script', () => {
    expect(splitCmdline(cmdline)).toHaveLength(5);
    expect(cmdlineArgs(cmdline, ['node', '/x/main.js', 'a', '\ufffd'], ['--opt'])).toEqual([
      b('a'),
      Buffer.from([0xff]),
    ]);
  });
  test('a count mismatch is refused rather than shifting arguments', () => {
    expect(() => cmdlineArgs(cmdline, ['node', '/x/main.js', 'a', 'b'], [])).toThrow(LaunchError);
  });
});
