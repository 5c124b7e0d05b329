// The version envd reports. E2B's SDK gates features on it (octet-stream uploads need 0.5.7,
// file metadata 0.6.2, ...), so it must stay a semver at or above what we implement. The
// bundle defines WRENN_ENVD_BUILD_VERSION from package.json; under tsc it falls back here.
export const ENVD_VERSION: string = process.env.WRENN_ENVD_BUILD_VERSION ?? "0.6.13";
