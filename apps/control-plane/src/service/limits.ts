/**
 * Bounds on what one request may ask for. The HTTP schemas are built from these numbers, so the
 * OpenAPI document, the validators and the service agree.
 */
export const LIMITS = {
  vcpus: { min: 1, max: 64 },
  memoryMb: { min: 128, max: 262_144 },
  diskMb: { min: 256, max: 1_048_576 },
  timeoutSeconds: { min: 0, max: 86_400 },
  metadataEntries: 64,
  metadataKeyLength: 128,
  metadataValueLength: 1024,
  envVarEntries: 256,
  envVarNameLength: 256,
  envVarValueLength: 32_768,
  templateLength: 128,
  listLimit: { min: 1, max: 1000, default: 100 },
  cursorLength: 512,
  keyNameLength: 128,
  pool: { max: 1_000_000_000 },
  createRatePerMinute: { max: 100_000 },
} as const;

export const TEMPLATE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:/-]*$";
export const ENV_VAR_NAME_PATTERN = "^[^=\\u0000]+$";

export interface SandboxDefaults {
  template: string;
  vcpus: number;
  memoryMb: number;
  diskMb: number;
  timeoutSeconds: number;
}

export const SANDBOX_DEFAULTS: SandboxDefaults = {
  template: "base",
  vcpus: 2,
  memoryMb: 1024,
  diskMb: 4096,
  timeoutSeconds: 300,
};

export interface KeyDefaults {
  pools: { vcpus: number; memoryMb: number; storageMb: number };
  createRatePerMinute: number;
}

export const USER_KEY_DEFAULTS: KeyDefaults = {
  pools: { vcpus: 16, memoryMb: 32_768, storageMb: 131_072 },
  createRatePerMinute: 60,
};

export const ADMIN_KEY_DEFAULTS: KeyDefaults = {
  pools: { vcpus: 64, memoryMb: 131_072, storageMb: 1_048_576 },
  createRatePerMinute: 600,
};
