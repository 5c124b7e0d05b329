import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { printJson } from "../output/table.js";
import { describeNetwork, sandboxJson } from "./sandbox-info.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The egress flags of `sandbox create` and `sandbox network`: E2B's rules, allowOut wins. */
export function egressOptions(command: Command): Command {
  return command
    .option("--internet", "reach everything not in --deny-out")
    .option(
      "--no-internet",
      "reach only --allow-out (unset: the server's default, Wrenn's is none)",
    )
    .option(
      "--allow-out <entry>",
      "IPv4 address, CIDR, host name or *.domain always reachable (names: TCP 80/443 by SNI or Host; repeatable)",
      collect,
    )
    .option(
      "--deny-out <cidr>",
      "IPv4 address or CIDR not reachable with --internet (repeatable)",
      collect,
    )
    .option(
      "--egress-proxy <host:port>",
      "tunnel all allowed TCP through this SOCKS5 proxy (fails closed; UDP is not tunneled)",
    )
    .option(
      "--egress-proxy-user <name>",
      "its user name; the password is read from WRENN_EGRESS_PROXY_PASSWORD (not a flag: flags show in process lists)",
    );
}

export interface EgressFlags {
  internet?: boolean;
  allowOut?: string[];
  denyOut?: string[];
  egressProxy?: string;
  egressProxyUser?: string;
}

/** The flags' egress rules, as the SDK takes them. */
export function egressOf(o: EgressFlags) {
  const password = process.env.WRENN_EGRESS_PROXY_PASSWORD;
  return {
    allowOut: o.allowOut,
    denyOut: o.denyOut,
    ...(o.egressProxy === undefined
      ? {}
      : {
          egressProxy: {
            address: o.egressProxy,
            ...(o.egressProxyUser === undefined ? {} : { username: o.egressProxyUser }),
            ...(o.egressProxyUser === undefined || !password ? {} : { password }),
          },
        }),
  };
}

export function registerSandboxNetwork(sandbox: Command): void {
  egressOptions(
    sandbox
      .command("network <id>")
      .description(
        "Replace a sandbox's egress rules at once (no restart); open connections they forbid are cut",
      ),
  )
    .option("--json", "print the sandbox as JSON")
    .addHelpText(
      "after",
      `
What the flags leave out is cleared. A destination in --allow-out is reachable whatever
--deny-out says; without --internet only --allow-out is reachable.

Examples:
  wrenn sandbox network sb-1a2b3c4d --internet --deny-out 203.0.113.0/24
  wrenn sandbox network sb-1a2b3c4d --no-internet --allow-out 1.1.1.1
  wrenn sandbox network sb-1a2b3c4d --no-internet --allow-out pypi.org --allow-out '*.pythonhosted.org'`,
    )
    .action(async (id: string, o: EgressFlags, command: Command) => {
      const ctx = await contextOf(command);
      const info = await Sandbox.updateNetwork(
        id,
        { allowInternetAccess: o.internet, ...egressOf(o) },
        ctx.sdk(),
      );
      if (wantsJson(command)) printJson(sandboxJson(info));
      else process.stdout.write(`${info.sandboxId}: ${describeNetwork(info)}\n`);
    });
}
