// Wrenn's template records in E2B's shapes (E2B-extensions.md §6). A record is one NAME:TAG;
// its build is the one its status is about.
import type { TemplateLogEntry } from "@wrenn/contract";
import type { TemplateUsage } from "../../service/template-usage.js";
import type { TemplateRecord } from "../../store/template-store.js";

/** E2B's step of a build log line: a step number, "base" or "finalize". */
export function e2bStep(step: string | null | undefined): string | undefined {
  if (!step) return undefined;
  const n = /^step-(\d+)$/.exec(step)?.[1];
  if (n) return n;
  return step === "finalize" || step === "install" || step === "done" ? "finalize" : "base";
}

export function e2bLogEntry(l: TemplateLogEntry) {
  const step = e2bStep(l.step);
  return {
    timestamp: l.timestamp,
    level: l.level,
    message: l.message,
    ...(step ? { step } : {}),
  };
}

const UNKNOWN: TemplateUsage = {
  spawnCount: 0,
  lastSpawnedAt: null,
  envdVersion: null,
  diskSizeMB: null,
};

function common(row: TemplateRecord, usage: TemplateUsage = UNKNOWN) {
  return {
    templateID: row.id,
    names: [`${row.name}:${row.tag}`],
    aliases: [row.name],
    // Templates are their owner's alone (PATCH {public: true} is refused).
    public: false,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastSpawnedAt: usage.lastSpawnedAt,
    spawnCount: usage.spawnCount,
  };
}

export function e2bBuild(row: TemplateRecord, usage: TemplateUsage = UNKNOWN) {
  return {
    buildID: row.buildId,
    status: row.status,
    cpuCount: row.vcpus,
    memoryMB: row.memoryMb,
    ...(usage.diskSizeMB !== null ? { diskSizeMB: usage.diskSizeMB } : {}),
    ...(usage.envdVersion !== null ? { envdVersion: usage.envdVersion } : {}),
    createdAt: row.buildStartedAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    ...(row.buildFinishedAt ? { finishedAt: row.buildFinishedAt.toISOString() } : {}),
  };
}

export function e2bTemplate(row: TemplateRecord, usage: TemplateUsage = UNKNOWN) {
  return {
    ...common(row, usage),
    buildID: row.buildId,
    buildStatus: row.status,
    buildCount: row.buildCount,
    cpuCount: row.vcpus,
    memoryMB: row.memoryMb,
    // Unknown while the build's host does not answer: E2B requires the fields.
    diskSizeMB: usage.diskSizeMB ?? 0,
    envdVersion: usage.envdVersion ?? "0.0.0",
    createdBy: null,
  };
}

export function e2bTemplateWithBuilds(row: TemplateRecord, usage: TemplateUsage = UNKNOWN) {
  return { ...common(row, usage), builds: [e2bBuild(row, usage)] };
}
