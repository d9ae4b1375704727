/** Public API of the classic-BPF layer (no seccomp policy knowledge). */
export * from './types';
export * from './opcodes';
export * from './codec';
export * from './validate';
export * from './assembler';
export * from './disasm';
export * from './interpreter';
export * from './cache';
export {
  ALL_VALUES,
  valueFlow,
  type AccumulatorState,
  type RangeSet,
  type ValueFlow,
} from './value-flow';
