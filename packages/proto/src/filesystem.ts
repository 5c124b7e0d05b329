// Public entry point: envd's filesystem service (E2B wire contract).
export * from "./gen/filesystem/filesystem_pb.js";
