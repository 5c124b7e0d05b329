// Defaults the control plane applies; the bounds on requests are the contract's LIMITS.
import { DEFAULT_TEMPLATE } from "@wrenn/contract";

export interface SandboxDefaults {
  template: string;
  vcpus: number;
  memoryMb: number;
  diskMb: number;
  timeoutSeconds: number;
  /**
   * Internet access for a sandbox that does not ask (WRENN_DEFAULT_INTERNET). Wrenn's default is
   * none: only its allowOut is reachable. E2B's is all (`allow_internet_access` defaults to true).
   */
  allowInternet: boolean;
}

/**
 * The host agent's own defaults: its warm pool boots sandboxes of exactly this shape, and a
 * disk of another size cannot come from the pool (a filesystem cannot shrink), so defaults that
 * differ would make every plain create a cold boot.
 */
export const SANDBOX_DEFAULTS: SandboxDefaults = {
  template: DEFAULT_TEMPLATE,
  vcpus: 1,
  memoryMb: 512,
  diskMb: 2048,
  timeoutSeconds: 300,
  allowInternet: false,
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
