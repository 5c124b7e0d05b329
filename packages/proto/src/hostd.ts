// Public entry point: hostd.v1.HostService, the workspace service the control plane serves.
export * from "./gen/hostd/v1/hostd_pb.js";
