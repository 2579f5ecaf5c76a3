// Public surface of the TFTP module (what src/app.ts wires).
export { TftpServer, DEFAULT_LIMITS } from './server.js'
export type { TftpServerOptions, TftpLimits, TftpServerEvents, TftpStats, TransferStart, TransferRecord, TransferOutcome } from './server.js'
export { LayeredResolver, AccessDenied, normaliseName, jailedLookup } from './resolver.js'
export type { TftpResolver, Resolved, ClientInfo, RequestContext, PiPrefixTarget, PiPrefixSeen, LayeredResolverOptions, ResolverEvents, FileRef, Generated } from './resolver.js'
