import { randomBytes } from "node:crypto";

const hex8 = () => randomBytes(4).toString("hex");

export const newSandboxId = () => `sb-${hex8()}`;
export const newOwnerId = () => `own-${hex8()}`;
export const newApiKeyId = () => `key-${hex8()}`;

export const SANDBOX_ID_PATTERN = /^sb-[0-9a-f]{8}$/;
export const API_KEY_ID_PATTERN = /^key-[0-9a-f]{8}$/;
export const OWNER_ID_PATTERN = /^own-[0-9a-f]{8}$/;
