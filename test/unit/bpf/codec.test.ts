import {
  BPF_ABS,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  BpfCodecError,
  decodeProgram,
  encodeProgram,
  jump,
  stmt,
} from '../../../src/bpf';

const program = [
  stmt(BPF_LD | BPF_W | BPF_ABS, 4),
  jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, 1, 2),
  stmt(BPF_RET | BPF_K, 0x7fff0000),
  stmt(BPF_RET | BPF_K, 0x80000000),
];

describe('struct sock_filter codec', () => {
  it('lays out one instruction little-endian as u16 code, u8 jt, u8 jf, u32 k', () => {
    const bytes = encodeProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, 1, 2)], 'le');
    expect([...bytes]).toEqual([0x15, 0x00, 0x01, 0x02, 0x3e, 0x00, 0x00, 0xc0]);
  });

  it('lays out the same instruction big-endian (jt/jf are single bytes, unchanged)', () => {
    const bytes = encodeProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, 1, 2)], 'be');
    expect([...bytes]).toEqual([0x00, 0x15, 0x01, 0x02, 0xc0, 0x00, 0x00, 0x3e]);
  });

  it('lays out a load of arch in both orders', () => {
    const insn = [stmt(BPF_LD | BPF_W | BPF_ABS, 4)];
    expect([...encodeProgram(insn, 'le')]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
    expect([...encodeProgram(insn, 'be')]).toEqual([0, 0x20, 0, 0, 0, 0, 0, 4]);
  });

  it.each(['le', 'be'] as const)('round-trips a program (%s)', (endian) => {
    const bytes = encodeProgram(program, endian);
    expect(bytes.length).toBe(32);
    expect(decodeProgram(bytes, endian)).toEqual(program);
  });

  it('decodes from a view with a non-zero byteOffset', () => {
    const bytes = encodeProgram(program, 'be');
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeProgram(padded.subarray(3), 'be')).toEqual(program);
  });

  it('reading with the wrong byte order gives different instructions', () => {
    const decoded = decodeProgram(encodeProgram(program, 'le'), 'be');
    expect(decoded[0]).toEqual({ code: 0x2000, jt: 0, jf: 0, k: 0x04000000 });
  });

  it('refuses fields that do not fit and partial instructions', () => {
    expect(() => encodeProgram([{ code: 0x10000, jt: 0, jf: 0, k: 0 }], 'le')).toThrow(
      BpfCodecError,
    );
    expect(() => encodeProgram([{ code: 6, jt: 256, jf: 0, k: 0 }], 'le')).toThrow(/jt=256/);
    expect(() => encodeProgram([{ code: 6, jt: 0, jf: 0, k: -1 }], 'le')).toThrow(/k=-1/);
    expect(() => decodeProgram(new Uint8Array(9), 'le')).toThrow(BpfCodecError);
  });
});
