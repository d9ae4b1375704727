/**
 * `audit --since TIME`: the forms an operator types after an incident.
 * Records carry wall-clock epoch time (audit(SECONDS.MILLIS:SERIAL)), so every
 * form resolves to ms since the epoch.
 */
import { InputError } from './errors';

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  sec: 1000,
  min: 60_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Accepts: `@EPOCH` or a bare epoch of 9+ digits (seconds, like `date +%s`);
 * a duration ago: `30s`, `10m`, `2h`, `1d`, also `-10m` and `10 min ago`;
 * `today`, `yesterday`; anything Date.parse understands (ISO 8601,
 * `2026-11-28 16:00`).
 */
export function parseSince(text: string, nowMs: number): number {
  const t = text.trim();
  let m = /^@?(\d{9,})(?:\.(\d+))?$/.exec(t);
  if (m && (t.startsWith('@') || m[1].length >= 9)) {
    return Number(m[1]) * 1000 + (m[2] ? Number(`0.${m[2]}`) * 1000 : 0);
  }
  m = /^-?(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)(?:\s+ago)?$/.exec(t);
  if (m) return nowMs - Number(m[1]) * UNIT_MS[m[2]];
  if (t === 'today' || t === 'yesterday') {
    const d = new Date(nowMs);
    d.setHours(0, 0, 0, 0);
    return d.getTime() - (t === 'yesterday' ? UNIT_MS.d : 0);
  }
  // Date.parse treats "YYYY-MM-DD HH:MM" as local time, like journalctl --since.
  const parsed = Date.parse(t);
  if (!Number.isNaN(parsed) && /\d/.test(t)) return parsed;
  throw new InputError(
    `invalid --since '${text}': use an ISO time (2026-11-28T16:00), @EPOCH, or a duration ago (10m, 2h, 1d)`,
  );
}
