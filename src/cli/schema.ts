// `bootlab schema`: the JSON Schema of bootlab.yaml for editors.
import { Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import { configJsonSchema } from '../config/jsonschema.js'

export function schemaCommand(): Command {
  return new Command('schema')
    .description('print (or write) the JSON Schema of bootlab.yaml, for editor completion')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (o: { output?: string }) => {
      const text = JSON.stringify(configJsonSchema(), null, 2) + '\n'
      if (o.output) await writeFile(o.output, text)
      else process.stdout.write(text)
    })
}
