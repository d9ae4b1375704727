/**
 * Just enough of JSON Schema 2020-12 to check filters/*.json against
 * filters/schema.json in a unit test without adding a dependency (the repo's
 * only validator, eslint's ajv 6, predates 2020-12). Supports exactly the
 * keywords schema.json uses; an unknown keyword fails loudly so the schema
 * cannot silently outgrow this checker.
 */
type Schema = Record<string, unknown>;

const SUPPORTED = new Set([
  '$schema',
  '$id',
  '$ref',
  '$defs',
  'title',
  'description',
  'type',
  'enum',
  'const',
  'pattern',
  'minLength',
  'minimum',
  'maximum',
  'required',
  'properties',
  'additionalProperties',
  'unevaluatedProperties',
  'items',
  'minItems',
  'oneOf',
  'anyOf',
  'not',
]);

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      throw new Error(`json-schema-lite: type ${type} not supported`);
  }
}

/** Returns the list of errors (empty when `value` is valid). */
export function validateSchema(root: Schema, value: unknown): string[] {
  const errors: string[] = [];

  const resolve = (ref: string): Schema => {
    const m = /^#\/\$defs\/(.+)$/.exec(ref);
    const defs = root.$defs as Record<string, Schema> | undefined;
    if (!m || !defs || !defs[m[1]]) throw new Error(`json-schema-lite: cannot resolve ${ref}`);
    return defs[m[1]];
  };

  const check = (s: Schema, v: unknown, at: string, out: string[]): void => {
    for (const k of Object.keys(s)) {
      if (!SUPPORTED.has(k)) throw new Error(`json-schema-lite: keyword ${k} not supported`);
    }
    if (typeof s.$ref === 'string') check(resolve(s.$ref), v, at, out);
    if (typeof s.type === 'string' && !typeOk(s.type, v)) {
      out.push(`${at}: not of type ${s.type}`);
      return;
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => e === v)) out.push(`${at}: not in enum`);
    if ('const' in s && s.const !== v) out.push(`${at}: not ${JSON.stringify(s.const)}`);
    if (typeof v === 'string') {
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) {
        out.push(`${at}: does not match ${s.pattern}`);
      }
      if (typeof s.minLength === 'number' && v.length < s.minLength) out.push(`${at}: too short`);
    }
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) out.push(`${at}: below minimum`);
      if (typeof s.maximum === 'number' && v > s.maximum) out.push(`${at}: above maximum`);
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) out.push(`${at}: too few items`);
      if (s.items) v.forEach((x, i) => check(s.items as Schema, x, `${at}[${i}]`, out));
    }
    if (typeOk('object', v)) {
      const obj = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required ?? []) as string[]) {
        if (!(r in obj)) out.push(`${at}: missing ${r}`);
      }
      for (const [k, x] of Object.entries(obj)) {
        if (props[k]) check(props[k], x, `${at}.${k}`, out);
        else if (s.additionalProperties === false || s.unevaluatedProperties === false) {
          // unevaluatedProperties is approximated by this level's properties,
          // which is what schema.json relies on (sub-schemas add no new names).
          out.push(`${at}: unexpected property ${k}`);
        }
      }
    }
    const passes = (sub: Schema): boolean => {
      const e: string[] = [];
      check(sub, v, at, e);
      return e.length === 0;
    };
    if (Array.isArray(s.oneOf)) {
      const n = (s.oneOf as Schema[]).filter(passes).length;
      if (n !== 1) out.push(`${at}: matches ${n} of oneOf`);
    }
    if (Array.isArray(s.anyOf) && !(s.anyOf as Schema[]).some(passes)) {
      out.push(`${at}: matches none of anyOf`);
    }
    if (s.not && passes(s.not as Schema)) out.push(`${at}: matches not`);
  };

  check(root, value, '$', errors);
  return errors;
}
