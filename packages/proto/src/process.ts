// Public entry point: envd's process service (E2B wire contract).
export * from "./gen/process/process_pb.js";
