import { SECCOMP_RET } from '../../../src/bpf/types';
import { ACTIONS_AVAIL, actionsUsed, checkKernelSupport } from '../../../src/launch/kernel';
import { LaunchError } from '../../../src/launch/errors';

const ret = (k: number) => ({ code: 0x06, jt: 0, jf: 0, k });
const program = [
  { code: 0x20, jt: 0, jf: 0, k: 4 },
  ret(SECCOMP_RET.ALLOW),
  ret(SECCOMP_RET.KILL_PROCESS),
  ret(SECCOMP_RET.ERRNO | 1),
  ret(SECCOMP_RET.USER_NOTIF),
];

const reader = (files: Record<string, string>) => (p: string) => {
  if (p in files) return files[p];
  throw new Error(`ENOENT ${p}`);
};

test('actions of every RET, errno data ignored', () => {
  expect(actionsUsed(program)).toEqual(['allow', 'errno', 'kill_process', 'user_notif']);
});

test('all available: no error', () => {
  expect(() =>
    checkKernelSupport(
      program,
      reader({
        [ACTIONS_AVAIL]: 'kill_process kill_thread trap errno user_notif trace log allow\n',
      }),
    ),
  ).not.toThrow();
});

function failure(files: Record<string, string>): LaunchError {
  try {
    checkKernelSupport(program, reader(files));
  } catch (e) {
    if (e instanceof LaunchError) return e;
    throw e;
  }
  throw new Error('no error');
}

test('missing user_notif and kill_process are named, with the way out, exit 69', () => {
  const e = failure({ [ACTIONS_AVAIL]: 'kill_thread trap errno trace allow' });
  expect(e.exitCode).toBe(69);
  expect(e.message).toMatch(/lacks seccomp actions kill_process, user_notif/);
  expect(e.message).toMatch(/spawn=allow avoids user_notif/);
  expect(e.message).toMatch(/action=trap avoids kill_process/);
});

test('no filter mode at all', () => {
  expect(failure({ '/proc/self/status': 'Name: x\nSeccomp:\t0\n' }).message).toMatch(
    /has seccomp but not seccomp filters \(CONFIG_SECCOMP_FILTER\)/,
  );
  expect(failure({ '/proc/self/status': 'Name: x\n' }).message).toMatch(
    /has no seccomp \(CONFIG_SECCOMP\)/,
  );
  expect(failure({}).exitCode).toBe(69);
});

test('this machine supports what the default and spawn=deny programs need', () => {
  expect(() => checkKernelSupport(program)).not.toThrow();
});
