// JSON Schema of bootlab.yaml for editors (yaml-language-server: completion and checks while typing).
import { z } from 'zod'
import { rawConfigSchema, SWITCH_SCHEMAS } from './schema.js'
import { version } from '../version.js'

export function configJsonSchema(): Record<string, unknown> {
  const editorSchema = rawConfigSchema.extend({
    switches: z.record(z.string(), z.union(Object.values(SWITCH_SCHEMAS))).optional(),
  })
  const schema = z.toJSONSchema(editorSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return {
    ...schema,
    $id: 'https://bootlab.invalid/bootlab.schema.json',
    title: `bootlab configuration (bootlab ${version})`,
    description: 'bootlab.yaml: server, switches, profiles, machines. See the README for every setting.',
  }
}
