// Public entry point: the control plane ↔ host agent service.
export * from "./gen/wrenn/hostagent/v1/hostagent_pb.js";
