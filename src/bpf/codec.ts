/**
 * struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } — 8 bytes,
 * in the byte order of the ABI that will load it (s390x and other big-endian
 * ABIs differ from x86_64 in the u16 and u32 fields; jt/jf are single bytes).
 */
import type { Endian, Instruction } from './types';

export const SOCK_FILTER_SIZE = 8;

export class BpfCodecError extends Error {
  override readonly name = 'BpfCodecError';
}

function checkField(index: number, field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new BpfCodecError(
      `instruction ${index}: ${field}=${value} does not fit its field (0..${max})`,
    );
  }
}

export function encodeProgram(program: readonly Instruction[], endian: Endian): Uint8Array {
  const bytes = new Uint8Array(program.length * SOCK_FILTER_SIZE);
  const view = new DataView(bytes.buffer);
  const le = endian === 'le';
  program.forEach((insn, i) => {
    checkField(i, 'code', insn.code, 0xffff);
    checkField(i, 'jt', insn.jt, 0xff);
    checkField(i, 'jf', insn.jf, 0xff);
    checkField(i, 'k', insn.k, 0xffffffff);
    const at = i * SOCK_FILTER_SIZE;
    view.setUint16(at, insn.code, le);
    view.setUint8(at + 2, insn.jt);
    view.setUint8(at + 3, insn.jf);
    view.setUint32(at + 4, insn.k, le);
  });
  return bytes;
}

export function decodeProgram(bytes: Uint8Array, endian: Endian): Instruction[] {
  if (bytes.length % SOCK_FILTER_SIZE !== 0) {
    throw new BpfCodecError(
      `${bytes.length} bytes is not a whole number of ${SOCK_FILTER_SIZE}-byte instructions`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = endian === 'le';
  const program: Instruction[] = [];
  for (let at = 0; at < bytes.length; at += SOCK_FILTER_SIZE) {
    program.push({
      code: view.getUint16(at, le),
      jt: view.getUint8(at + 2),
      jf: view.getUint8(at + 3),
      k: view.getUint32(at + 4, le),
    });
  }
  return program;
}
