// The small part of net-snmp (markabrahams/node-net-snmp, no bundled types) the snmp driver uses.
declare module 'net-snmp' {
  export interface Varbind {
    oid: string
    type: number
    value: unknown
  }
  export interface SessionOptions {
    port?: number
    retries?: number
    timeout?: number
    version?: number
    transport?: 'udp4' | 'udp6'
    idBitsSize?: 16 | 32
  }
  export interface UserOptions {
    name: string
    level: number
    authProtocol?: number
    authKey?: string
    privProtocol?: number
    privKey?: string
  }
  export interface Session {
    get(oids: string[], cb: (err: Error | null, varbinds: Varbind[]) => void): void
    set(varbinds: Varbind[], cb: (err: Error | null, varbinds: Varbind[]) => void): void
    close(): void
    on(event: 'error', cb: (err: Error) => void): void
  }
  const snmp: {
    createSession(target: string, community: string, options?: SessionOptions): Session
    createV3Session(target: string, user: UserOptions, options?: SessionOptions): Session
    isVarbindError(vb: Varbind): boolean
    varbindError(vb: Varbind): string
    Version2c: number
    Version3: number
    ObjectType: { Integer: number; [k: string]: number }
    SecurityLevel: { noAuthNoPriv: number; authNoPriv: number; authPriv: number }
    AuthProtocols: Record<string, number>
    PrivProtocols: Record<string, number>
  }
  export default snmp
}
