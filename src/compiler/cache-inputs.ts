/**
 * The inputs of the compile cache (src/compiler/precompiled.ts), pinned by
 * content: the build records the sha256 of every file a live compile reads
 * (the compiler's modules with the syscall tables, and filters/), and the
 * launcher uses the cache only while each file still has that content.
 *
 * Hashing ~300 KB at every start would cost about 4 ms (most of it loading
 * node:crypto), so the build also records each file's stat: inode, size,
 * mtime and ctime. Any write to a file sets its ctime to the current time,
 * and nothing short of changing the system clock sets it back, so a file
 * whose stat is exactly the recorded one still has the recorded content. The
 * launcher stats every input (~0.3 ms for 32 files) and reads and hashes only
 * those whose stat differs (a copied tree: other inodes and ctimes); a hash
 * that differs means the cache does not apply.
 *
 * One trap: timestamps are coarse (a clock tick), so a write in the same tick
 * as the recorded stat could leave ctime unchanged. A stat is recorded only
 * for a file whose ctime is at least SETTLE_MS old at that moment; the seal
 * step waits for that (see settleInputs), else the file is hashed at every
 * start.
 */
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';

/** What a file's stat must still say for its recorded content to be trusted unread. */
export interface Witness {
  readonly ino: string;
  readonly size: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
}

export interface InputRecord {
  /** sha256 of the file's bytes, hex. */
  readonly sha256: string;
  /** Absent when the file was too recent to vouch for its content by stat. */
  readonly stat?: Witness;
}

/** Path (from the package root, '/'-separated) -> record. */
export type Inputs = Readonly<Record<string, InputRecord>>;

/** How old a file's ctime must be before its stat may stand for its content. */
export const SETTLE_MS = 1000;

export function witnessOf(st: BigIntStats): Witness {
  return {
    ino: st.ino.toString(),
    size: st.size.toString(),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
  };
}

function sameWitness(a: Witness, b: Witness): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

type Crypto = typeof import('node:crypto');
let crypto: Crypto | undefined;
function sha256(bytes: Buffer): string {
  // Loaded on first use: the launcher needs it only when a stat differs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  crypto ??= require('node:crypto') as Crypto;
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/**
 * Hashes and stats `files` (relative to `root`). A stat is kept only if the
 * file's ctime is SETTLE_MS older than `nowMs` and the file did not change
 * while it was read.
 */
export function sealInputs(
  root: string,
  files: readonly string[],
  nowMs: number = Date.now(),
): Record<string, InputRecord> {
  const out: Record<string, InputRecord> = {};
  for (const file of [...files].sort()) {
    const path = join(root, file);
    const before = statSync(path, { bigint: true });
    const record: InputRecord = { sha256: sha256(readFileSync(path)) };
    const w = witnessOf(before);
    const settled = before.ctimeNs < BigInt(nowMs - SETTLE_MS) * 1_000_000n;
    const unchanged = sameWitness(w, witnessOf(statSync(path, { bigint: true })));
    out[file] = settled && unchanged ? { ...record, stat: w } : record;
  }
  return out;
}

/**
 * Waits (at most twice SETTLE_MS) until every file's ctime is SETTLE_MS old,
 * so that sealInputs can record all their stats: for a tree just copied.
 */
export function settleInputs(root: string, files: readonly string[]): void {
  const newest = files.reduce(
    (m, f) => Math.max(m, Number(statSync(join(root, f), { bigint: true }).ctimeNs / 1_000_000n)),
    0,
  );
  const wait = Math.min(newest + SETTLE_MS + 1 - Date.now(), 2 * SETTLE_MS);
  if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
}

export interface InputCheck {
  /** Every input has its recorded content. */
  readonly unchanged: boolean;
  /** Inputs vouched for by their stat alone. */
  readonly byStat: number;
  /** Inputs read and hashed (their stat differed or none was recorded). */
  readonly byHash: number;
}

/** Whether every input under `root` still has its recorded content (see the top). Throws if one is missing. */
export function checkInputs(root: string, inputs: Inputs): InputCheck {
  let byStat = 0;
  let byHash = 0;
  const files = Object.keys(inputs);
  for (const file of files) {
    const record = inputs[file];
    const path = join(root, file);
    const now = statSync(path, { bigint: true });
    if (record.stat !== undefined && sameWitness(record.stat, witnessOf(now))) {
      byStat++;
      continue;
    }
    byHash++;
    if (sha256(readFileSync(path)) !== record.sha256) return { unchanged: false, byStat, byHash };
  }
  return { unchanged: files.length > 0, byStat, byHash };
}
