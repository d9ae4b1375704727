/**
 * NativeError names errno values from src/arch's tables, for the host ABI
 * src/native was told about (MIPS numbers errno differently from the rest).
 */
import { errnoValue } from '../../../src/arch';
import { NativeError, useHostSyscalls } from '../../../src/native';

test('names errno values of this host, ESRCH included', () => {
  const e = new NativeError('seccomp', 3);
  expect(e.code).toBe('ESRCH');
  expect(e.message).toBe('seccomp failed: ESRCH (3)');
  expect(new NativeError('open', 9).code).toBe('EBADF');
  expect(new NativeError('x', 4095).code).toBe('errno 4095');
  expect(new NativeError('x', 4095).message).toBe('x failed: errno (4095)');
});

test("names them by the host ABI's own numbering", () => {
  useHostSyscalls({ name: 'mips64el', syscalls: new Map() });
  const enosys = errnoValue('mips64el', 'ENOSYS');
  expect(enosys).not.toBe(errnoValue('x86_64', 'ENOSYS'));
  expect(new NativeError('seccomp', enosys).code).toBe('ENOSYS');
  useHostSyscalls({ name: 'x86_64', syscalls: new Map() });
  expect(new NativeError('seccomp', 38).code).toBe('ENOSYS');
});
