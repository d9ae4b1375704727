/** `export POLICY --format oci|systemd`: see ../export.ts for the translation rules. */
import { errnoValue } from '../../arch';
import { activeRules } from '../../policy';
import type { CliContext } from '../context';
import { toJson } from '../context';
import { InputError } from '../errors';
import { systemdText, toOci, toSystemd, type ExportInput } from '../export';
import { readArch, readPolicy, requireHostArch } from '../policy-input';

export const EXPORT_FORMATS = ['oci', 'systemd'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  readonly policy: string;
  readonly format: ExportFormat;
  readonly arch?: string;
  /** systemd: {header, lines, notes} as JSON instead of unit text (oci is JSON anyway). */
  readonly json?: boolean;
}

export function exportInput(ctx: CliContext, opts: ExportOptions): ExportInput {
  const host = requireHostArch(readArch(opts.arch), 'export');
  const p = readPolicy(opts.policy, ctx.env);
  if (!p.policy.enable) {
    throw new InputError(`policy '${opts.policy}' is off: there is nothing to export`);
  }
  return {
    policyText: p.canonical,
    policy: p.policy,
    host,
    rules: activeRules(p.policy, host.native),
    errnoFor: (name) => errnoValue(host.native.name, name),
  };
}

export function runExport(ctx: CliContext, opts: ExportOptions): void {
  const input = exportInput(ctx, opts);
  if (opts.format === 'oci') {
    ctx.stdout.write(toJson(toOci(input)));
    return;
  }
  const unit = toSystemd(input);
  ctx.stdout.write(opts.json ? toJson(unit) : systemdText(unit));
}
