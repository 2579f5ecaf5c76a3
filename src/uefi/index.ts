// bootlab's EDK2 variable store tools: read and write UEFI variables in firmware images, and the
// per-machine RPI_EFI.fd for the pftf Raspberry Pi 4 firmware.
export { UefiStoreError, findNvFirmwareVolume, type NvFirmwareVolume } from './firmware-volume.js'
export {
  ATTR, ATTR_NV_BS_RT, describeAttributes, editVariables, findVariable, liveVariables, readVariableStore,
  type EditResult, type StoreFormat, type VariableEdit, type VariableRecord, type VariableStore,
} from './varstore.js'
export { EFI_GLOBAL_VARIABLE_GUID, normaliseGuid } from './guid.js'
export {
  KNOWN_VARIABLES, PFTF_CONFIG_GUID, SYSTEM_TABLE_MODES, describeSettings, knownVariable, parseHex, parseKnownValue,
  parseVarKey, settingsEdits, type KnownVariable, type SystemTableMode, type UefiSettings,
} from './pftf.js'
export { RpiEfiCache, describeServedUefi, rpiEfiFor, sha256Hex, type GeneratedFirmware, type StockFirmware } from './rpi-efi.js'
