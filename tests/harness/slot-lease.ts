// The lease lives beside the host agent's network test kit, whose tests take slots too.
export * from "../../apps/host-agent/src/network/test-slots.js";
