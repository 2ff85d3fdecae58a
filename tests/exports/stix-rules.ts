import { z } from 'zod';

/**
 * The STIX 2.1 (OASIS, CS02) rules our bundles must satisfy, written from the specification's
 * property tables: common properties, each object type's required properties and value ranges,
 * identifier and timestamp formats, custom-name rules and reference integrity. (The OASIS JSON
 * schemas are not distributed through npm or Debian, which is all this project can install.)
 */
const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const idOf = (type: string) => z.string().regex(new RegExp(`^${type}--${uuid}$`), `must be a ${type} identifier`);
const anyId = z.string().regex(new RegExp(`^[a-z0-9-]+--${uuid}$`), 'must be a STIX identifier');
const timestamp = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'must be an RFC 3339 UTC timestamp');
const customName = /^x_[a-z0-9_]{1,248}$/;

const common = { spec_version: z.literal('2.1'), created: timestamp, modified: timestamp, created_by_ref: idOf('identity').optional() };
const sco = { spec_version: z.literal('2.1').optional() };

const objectSchemas: Record<string, z.ZodType> = {
  identity: z.object({ type: z.literal('identity'), id: idOf('identity'), ...common, name: z.string().min(1) }),
  indicator: z.object({
    type: z.literal('indicator'),
    id: idOf('indicator'),
    ...common,
    pattern: z.string().regex(/^\[.+\]$/s, 'must be a STIX pattern'),
    pattern_type: z.literal('stix'),
    valid_from: timestamp,
    indicator_types: z.array(z.string()).optional(),
  }),
  'attack-pattern': z.object({
    type: z.literal('attack-pattern'),
    id: idOf('attack-pattern'),
    ...common,
    name: z.string().min(1),
    external_references: z.array(z.object({ source_name: z.string().min(1), external_id: z.string().optional(), url: z.string().url().optional() })).optional(),
  }),
  relationship: z.object({ type: z.literal('relationship'), id: idOf('relationship'), ...common, relationship_type: z.string().regex(/^[a-z0-9-]+$/), source_ref: anyId, target_ref: anyId }),
  sighting: z.object({
    type: z.literal('sighting'),
    id: idOf('sighting'),
    ...common,
    sighting_of_ref: anyId,
    observed_data_refs: z.array(idOf('observed-data')).optional(),
    where_sighted_refs: z.array(anyId).optional(),
    first_seen: timestamp.optional(),
    last_seen: timestamp.optional(),
    count: z.number().int().min(0).max(999_999_999).optional(),
  }),
  'observed-data': z.object({
    type: z.literal('observed-data'),
    id: idOf('observed-data'),
    ...common,
    first_observed: timestamp,
    last_observed: timestamp,
    number_observed: z.number().int().min(1).max(999_999_999),
    object_refs: z.array(anyId).min(1),
  }),
  grouping: z.object({ type: z.literal('grouping'), id: idOf('grouping'), ...common, context: z.string().min(1), object_refs: z.array(anyId).min(1) }),
  'ipv4-addr': z.object({ type: z.literal('ipv4-addr'), id: idOf('ipv4-addr'), ...sco, value: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/) }),
  'ipv6-addr': z.object({ type: z.literal('ipv6-addr'), id: idOf('ipv6-addr'), ...sco, value: z.string().includes(':') }),
  'domain-name': z.object({ type: z.literal('domain-name'), id: idOf('domain-name'), ...sco, value: z.string().min(1) }),
  'email-addr': z.object({ type: z.literal('email-addr'), id: idOf('email-addr'), ...sco, value: z.string().includes('@') }),
  'user-account': z.object({ type: z.literal('user-account'), id: idOf('user-account'), ...sco, account_login: z.string().optional(), user_id: z.string().optional() }),
  'network-traffic': z
    .object({ type: z.literal('network-traffic'), id: idOf('network-traffic'), ...sco, protocols: z.array(z.string().regex(/^[a-z0-9-]+$/)).min(1), src_ref: anyId.optional(), dst_ref: anyId.optional() })
    .refine((o) => o.src_ref || o.dst_ref, 'needs src_ref or dst_ref'),
};

/** Every problem found in a bundle, as readable strings (empty when valid). */
export function stixProblems(bundle: unknown): string[] {
  const problems: string[] = [];
  const b = z.object({ type: z.literal('bundle'), id: idOf('bundle'), objects: z.array(z.record(z.string(), z.unknown())) }).safeParse(bundle);
  if (!b.success) return b.error.issues.map((i) => `bundle.${i.path.join('.')}: ${i.message}`);
  const ids = new Set<string>();
  for (const o of b.data.objects) {
    const type = String(o.type);
    const schema = objectSchemas[type];
    if (!schema && !type.startsWith('x-')) problems.push(`${String(o.id)}: unknown type ${type} (custom types must start with x-)`);
    if (schema) {
      const r = schema.safeParse(o);
      if (!r.success) problems.push(...r.error.issues.map((i) => `${String(o.id)}.${i.path.join('.')}: ${i.message}`));
    }
    if (ids.has(String(o.id))) problems.push(`${String(o.id)}: duplicate id`);
    ids.add(String(o.id));
    for (const key of Object.keys(o)) {
      if (!/^[a-z0-9_]{2,250}$/.test(key)) problems.push(`${String(o.id)}: property name ${key} is not allowed`);
      if (key.startsWith('x_') && !customName.test(key)) problems.push(`${String(o.id)}: bad custom property ${key}`);
    }
  }
  for (const o of b.data.objects) {
    for (const [key, value] of Object.entries(o)) {
      const refs = key.endsWith('_ref') ? [value] : key.endsWith('_refs') ? (value as unknown[]) : [];
      for (const ref of refs) if (!ids.has(String(ref))) problems.push(`${String(o.id)}.${key}: dangling reference ${String(ref)}`);
    }
  }
  return problems;
}
