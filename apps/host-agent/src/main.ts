#!/usr/bin/env node
import { parseArgs } from "node:util";
import { agentConfigFromEnv } from "./config/agent-config.js";
import { serve } from "./serve.js";
import { buildStepLabel, TemplateBuilder } from "./templates/builder.js";
import { TemplateStore } from "./templates/store.js";

const usage = `wrenn-agent: runs Wrenn sandboxes on this machine (as root).

Usage:
  wrenn-agent serve                             run the agent (as root) until SIGINT/SIGTERM
  wrenn-agent template build [NAME] [--force]   build a template (default: base)
  wrenn-agent template ls                       list built templates

Environment:
  WRENN_AGENT_LISTEN     127.0.0.1:7070, or unix:/path (a token is required beyond loopback)
  WRENN_AGENT_TOKEN      bearer token the control plane must present
  WRENN_DATA_DIR         base for agent/ and templates/ (default: <repo>/.wrenn)
  WRENN_AGENT_DATA_DIR   sandboxes, checkpoints and state (default: $WRENN_DATA_DIR/agent)
  WRENN_TEMPLATES_DIR    built templates (default: $WRENN_DATA_DIR/templates)
  WRENN_POOL_SIZE        pre-booted sandboxes kept per template in use (default 2)
  WRENN_POOL_IDLE_SECONDS  templates other than base unused this long keep none (default 600; 0: all)
  WRENN_POOL_MAX         warm sandboxes on the host for bursts, all templates (default: memory/20/100 MiB)
  WRENN_POOL_REFILL_BOOTS  warm sandboxes booted at once (default 2)
  WRENN_BOOT_SLOTS       boots on creates' requests at once; others wait (default: CPUs, min 2)
  WRENN_TEMPLATE_RESTORE 0 to never boot from a template checkpoint
  WRENN_NETWORK_POOL     IPv4 range for sandbox networks (default 10.200.0.0/16)
  WRENN_NETWORK_PREFIX   netns/interface name prefix of this agent (default wrenn-)
  WRENN_NETWORK_TABLE    nftables table of this agent (default wrenn)
  WRENN_EGRESS_ALLOW_CIDRS  private ranges sandboxes with internet may reach (default: none)
  WRENN_SANDBOX_DNS      name servers for sandboxes with internet (default: the host's upstream)
  WRENN_EGRESS_DNS       name servers the egress proxy resolves allowOut's host names with, and
                         forwards those sandboxes' DNS to (default: the host's resolv.conf;
                         loopback resolvers only for the proxy's own lookups)
  WRENN_EGRESS_UPSTREAM_CA  PEM file of extra CAs the egress proxy trusts when it verifies the
                         servers of names with header rules (default: the system's roots only)
  WRENN_MOUNT_ROOTS      host directories under which sandboxes may mount (default: none)
  WRENN_BOOT_TIMEOUT_S   how long a boot or restore may take to answer (default 120)
  WRENN_PIDS_LIMIT       processes per sandbox (default 8192)
  WRENN_RUNSC            the gVisor runsc binary (default: runsc on PATH)
  WRENN_RUNSC_PLATFORM   auto (systrap when it runs here, else ptrace) or ptrace (default auto)
  WRENN_MEMORY_OVERHEAD_MB  memory allowed above memory_mb for the sandbox kernel (default 128)
  WRENN_DEFAULT_VCPUS, WRENN_DEFAULT_MEMORY_MB, WRENN_DEFAULT_DISK_MB, WRENN_LOG_LEVEL`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { force: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || positionals.length === 0) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  const config = agentConfigFromEnv();
  if (positionals[0] === "serve") {
    await serve(config);
    return 0;
  }
  const store = new TemplateStore(config.templatesDir, config.layerRetention);
  const [group, verb, name] = positionals;
  if (group === "template" && verb === "build") {
    const builder = new TemplateBuilder(store, config.imagesDir, config.envdDistDir);
    const t = await builder.build(name ?? "base", {
      force: values.force ?? false,
      onProgress: (p) => console.log(`${buildStepLabel(p.phase)} ${p.message}`),
    });
    console.log(`${t.name} ${t.version} ready at ${t.rootfs}`);
    return 0;
  }
  if (group === "template" && verb === "ls") {
    for (const t of await store.list()) {
      console.log(
        `${t.name}\t${t.version}\t${(t.sizeBytes / 2 ** 20).toFixed(0)} MiB\t${t.builtAt}`,
      );
    }
    return 0;
  }
  console.error(`unknown command: ${positionals.join(" ")}\n\n${usage}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  },
);
