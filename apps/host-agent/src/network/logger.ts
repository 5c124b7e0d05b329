import { pino } from "pino";

/** The slice of pino's Logger this module uses, so the agent can hand in its own logger. */
export interface NetworkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export function defaultLogger(): NetworkLogger {
  return pino({ level: process.env.WRENN_LOG_LEVEL ?? "info" }).child({ component: "network" });
}
