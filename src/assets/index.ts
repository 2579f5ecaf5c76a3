// What the rest of bootlab uses from the asset code: where firmware versions live and what is missing.
export { missingAssets, formatMissing, logMissingAssets, type MissingAsset } from './missing.js'
export { rpi4UefiDir, rpi4UefiCurrent, pftfMissing, pftfVersionName, PFTF_REQUIRED } from './rpi4-uefi.js'
export { rpi5BootDir } from './rpi5.js'
