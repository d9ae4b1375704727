/**
 * One QEMU option value as a key -> value map (the last occurrence wins, as
 * qemu_opt_get reads it), parsed with src/policy's QemuOpts/JSON parser: JSON
 * objects appear as dotted keys (server.type), booleans as on/off. Shared by
 * preflight and the files=deny analysis.
 */
import { parseKeyValueList } from '../policy/qemu-args';

export class Opts {
  private readonly map = new Map<string, string>();
  /** Malformed JSON: the option cannot be read (QEMU refuses it too). */
  readonly malformed: boolean;

  constructor(value: string, impliedKey?: string) {
    let malformed = false;
    try {
      for (const { key, value: v } of parseKeyValueList(value, impliedKey)) this.map.set(key, v);
    } catch {
      malformed = true;
    }
    this.malformed = malformed;
  }

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  keys(): string[] {
    return [...this.map.keys()];
  }

  set(key: string, value: string): void {
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** QemuOpts/keyval booleans: on/yes/true/y. */
  isOn(key: string): boolean {
    const v = this.map.get(key);
    return v !== undefined && ['on', 'yes', 'true', 'y'].includes(v.toLowerCase());
  }
}
