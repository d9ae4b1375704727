/**
 * The caller's environment, as recorded by the trampoline (raw entries). QEMU
 * gets it back exactly, in order, minus our own QEMU_SANDBOXED_* variables;
 * the launcher reads its settings (and PATH) from the same entries, so what
 * it decides matches what the caller asked for.
 */

export const OWN_PREFIX = 'QEMU_SANDBOXED_';
const OWN_PREFIX_BYTES = Buffer.from(OWN_PREFIX, 'latin1');

/** The variable name of an "NAME=value" entry (the whole entry when it has no '='). */
function nameOf(entry: Buffer): Buffer {
  const eq = entry.indexOf(0x3d);
  return eq < 0 ? entry : entry.subarray(0, eq);
}

/** The environment QEMU gets: every entry, in order, except QEMU_SANDBOXED_*. */
export function qemuEnvironment(environ: readonly Buffer[]): Buffer[] {
  return environ.filter(
    (e) => !nameOf(e).subarray(0, OWN_PREFIX_BYTES.length).equals(OWN_PREFIX_BYTES),
  );
}

/**
 * A lookup table like process.env. As with getenv(3), the first entry of a
 * name wins. Values are decoded as UTF-8 (only our settings, PATH and the
 * config path are read through it).
 */
export function environmentMap(environ: readonly Buffer[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const e of environ) {
    const eq = e.indexOf(0x3d);
    if (eq <= 0) continue;
    const name = e.subarray(0, eq).toString('utf8');
    if (!(name in out)) out[name] = e.subarray(eq + 1).toString('utf8');
  }
  return out;
}
