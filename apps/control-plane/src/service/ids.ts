import { randomBytes } from "node:crypto";
import { SANDBOX_ID_PATTERN as SANDBOX_ID } from "@wrenn/contract";

const hex8 = () => randomBytes(4).toString("hex");

export const newSandboxId = () => `sb-${hex8()}`;
export const newSnapshotId = () => `snap-${hex8()}`;
export const newOwnerId = () => `own-${hex8()}`;
export const newApiKeyId = () => `key-${hex8()}`;

export const SANDBOX_ID_PATTERN = new RegExp(SANDBOX_ID);
export const API_KEY_ID_PATTERN = /^key-[0-9a-f]{8}$/;
export const OWNER_ID_PATTERN = /^own-[0-9a-f]{8}$/;
