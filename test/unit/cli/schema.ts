/**
 * A small structural schema check for the CLI's --json outputs: the shape
 * scripts rely on. Fails with the JSON path of the first mismatch.
 */
export type Schema =
  | 'string'
  | 'number'
  | 'boolean'
  | 'null'
  | { readonly oneOf: readonly Schema[] }
  | { readonly arrayOf: Schema }
  | { readonly record: Schema }
  | {
      readonly object: Readonly<Record<string, Schema>>;
      readonly optional?: readonly string[];
      readonly extra?: boolean;
    };

export const nullable = (s: Schema): Schema => ({ oneOf: [s, 'null'] });

export function check(value: unknown, schema: Schema, path = '$'): string[] {
  if (typeof schema === 'string') {
    const actual = value === null ? 'null' : typeof value;
    return actual === schema ? [] : [`${path}: expected ${schema}, got ${actual}`];
  }
  if ('oneOf' in schema) {
    const errs = schema.oneOf.map((s) => check(value, s, path));
    return errs.some((e) => e.length === 0)
      ? []
      : [`${path}: no alternative matched (${errs.map((e) => e[0]).join(' | ')})`];
  }
  if ('arrayOf' in schema) {
    if (!Array.isArray(value)) return [`${path}: expected an array`];
    return value.flatMap((v, i) => check(v, schema.arrayOf, `${path}[${i}]`));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return [`${path}: expected an object`];
  const obj = value as Record<string, unknown>;
  if ('record' in schema) {
    return Object.entries(obj).flatMap(([k, v]) => check(v, schema.record, `${path}.${k}`));
  }
  const errors: string[] = [];
  for (const [key, s] of Object.entries(schema.object)) {
    if (!(key in obj)) {
      if (!schema.optional?.includes(key)) errors.push(`${path}.${key}: missing`);
      continue;
    }
    errors.push(...check(obj[key], s, `${path}.${key}`));
  }
  if (!schema.extra) {
    for (const key of Object.keys(obj))
      if (!(key in schema.object)) errors.push(`${path}.${key}: not in the schema`);
  }
  return errors;
}

/** For expect(): [] when the value has the shape. */
export function schemaErrors(value: unknown, schema: Schema): string[] {
  return check(value, schema);
}
