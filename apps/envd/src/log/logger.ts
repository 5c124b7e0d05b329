import { pino } from "pino";

// JSON lines on stdout. Secrets never reach the logger: the access token is never passed to
// it, and the redact list catches the headers that carry it should a request be logged.
export const logger = pino({
  base: { service: "envd" },
  level: process.env.WRENN_ENVD_LOG_LEVEL ?? "info",
  redact: {
    paths: ["accessToken", "token", "headers['x-access-token']", "headers.authorization"],
    censor: "[redacted]",
  },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = typeof logger;
