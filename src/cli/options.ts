// Command-line options shared by several commands.
import { Command, Option, InvalidArgumentError } from 'commander'
import type { ConfigOverrides } from '../config/load.js'

export const DEFAULT_CONFIG = '/etc/bootlab/bootlab.yaml'

export interface OverrideFlags {
  interface?: string
  advertise?: string
  stateDir?: string
  httpPort?: number
  tftpPort?: number
  dhcpMode?: 'proxy' | 'full' | 'off'
}

function portArg(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number 1-65535')
  return n
}

/** Flags that override server settings of the config file (the file itself is not changed). */
export function overrideOptions(cmd: Command): Command {
  return cmd
    .option('--interface <name>', 'override server.interface')
    .option('--advertise <ip>', 'override server.advertise')
    .option('--state-dir <dir>', 'override server.state_dir')
    .option('--http-port <port>', 'override server.http.port', portArg)
    .option('--tftp-port <port>', 'override server.tftp.port', portArg)
    .addOption(new Option('--dhcp-mode <mode>', 'override server.dhcp.mode').choices(['proxy', 'full', 'off']))
}

export function overridesFrom(o: OverrideFlags): ConfigOverrides {
  const out: ConfigOverrides = {}
  if (o.interface !== undefined) out.interface = o.interface
  if (o.advertise !== undefined) out.advertise = o.advertise
  if (o.stateDir !== undefined) out.state_dir = o.stateDir
  if (o.httpPort !== undefined) out.http_port = o.httpPort
  if (o.tftpPort !== undefined) out.tftp_port = o.tftpPort
  if (o.dhcpMode !== undefined) out.dhcp_mode = o.dhcpMode
  return out
}
