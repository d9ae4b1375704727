/** src/arch: facts about Linux syscall ABIs. Imports nothing above it. */
export type { Abi, AbiName, HostAbi } from './types';
export {
  ABI_NAMES,
  HOST_ABI_NAMES,
  X32_SYSCALL_BIT,
  detectHostAbi,
  getAbi,
  getHostAbi,
  isHostAbiName,
  isKnownSyscall,
  parseAbiName,
} from './abis';
export type { HostAbiName } from './abis';
export { errnoName, errnoNames, errnoValue } from './errno';
export { SYSCALLS_CSV_VERSION } from './generated/syscalls';
export { filterExemptSyscalls, kernelCachedAllow, kernelCachedArches } from './seccomp-cache';
