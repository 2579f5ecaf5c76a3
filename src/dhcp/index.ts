// bootlab DHCP: proxyDHCP (default) or full server, PXE/iPXE/HTTP-boot/Raspberry Pi aware.
export { DhcpServer, interfaceInfo, type DhcpServerOptions, type InterfaceInfo } from './server.js'
export { DhcpEngine, type DhcpClientEvent, type DhcpDropEvent, type DhcpEvents, type DhcpMode, type DhcpStats, type EngineOptions, type PortKind } from './engine.js'
export { classify, isRaspberryPiMac, RPI_OUIS, type ClassifiedClient, type ClientClass } from './classify.js'
export { defaultBootDecision, ipxeScriptUrl, httpBase, DEFAULT_FILES, type BootDecision, type DefaultBootOptions, type DhcpPolicy } from './policy.js'
export { MemoryLeaseStore, type Lease, type LeaseChange, type LeaseState, type LeaseStore, type PoolConfig } from './leases.js'
export { JsonFileLeaseStore } from './lease-file.js'
export { loadBindSock } from './socket.js'
export { DEFAULT_DHCP_LIMITS, type DhcpLimits } from './guard.js'
