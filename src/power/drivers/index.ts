// One driver per switch, by its `driver:` key. A manual switch has none: the cycler asks a person.
import type { Logger } from '../../log.js'
import type { PowerDriver, SwitchConfig } from '../types.js'
import { CiscoIosDriver } from './cisco-ios.js'
import { CommandDriver } from './command.js'
import { SnmpDriver } from './snmp.js'
import { WebhookDriver } from './webhook.js'

export function createDriver(sw: SwitchConfig, log: Logger): PowerDriver | null {
  switch (sw.driver) {
    case 'cisco-ios': return new CiscoIosDriver(sw, log)
    case 'snmp': return new SnmpDriver(sw)
    case 'command': return new CommandDriver(sw)
    case 'webhook': return new WebhookDriver(sw)
    case 'manual': return null
  }
}
