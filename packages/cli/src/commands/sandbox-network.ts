import type { EgressHeaderRules } from "@wrenn/contract";
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
    )
    .option(
      "--header <domain:Name=value>",
      `set a header on HTTP(S) requests to domain (names/*.domain; value may be \${e2b.secrets.NAME}, filled in on the host); does not allow the domain (repeatable)`,
      collect,
    );
}

/**
 * --header flags as network.rules: `api.example.com:Authorization=Bearer x` sets Authorization
 * on requests to api.example.com; the server checks names and values (the contract's rules).
 */
export function headerRules(flags: string[] | undefined): EgressHeaderRules | undefined {
  if (!flags || flags.length === 0) return undefined;
  const rules: EgressHeaderRules = {};
  for (const flag of flags) {
    const m = /^([^:=\s]+):([^=]+)=(.*)$/s.exec(flag);
    if (!m) {
      throw new Error(
        `--header ${JSON.stringify(flag)}: write domain:Name=value, e.g. api.example.com:Authorization=Bearer xyz`,
      );
    }
    const [, domain, name, value] = m as unknown as [string, string, string, string];
    const headers = rules[domain]?.[0]?.transform.headers ?? {};
    headers[name] = value;
    rules[domain] = [{ transform: { headers } }];
  }
  return rules;
}

export interface EgressFlags {
  internet?: boolean;
  allowOut?: string[];
  denyOut?: string[];
  egressProxy?: string;
  egressProxyUser?: string;
  header?: string[];
}

/** The flags' egress rules, as the SDK takes them. */
export function egressOf(o: EgressFlags) {
  const password = process.env.WRENN_EGRESS_PROXY_PASSWORD;
  return {
    allowOut: o.allowOut,
    denyOut: o.denyOut,
    rules: headerRules(o.header),
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
  wrenn sandbox network sb-1a2b3c4d --no-internet --allow-out pypi.org --allow-out '*.pythonhosted.org'
  wrenn sandbox network sb-1a2b3c4d --no-internet --allow-out api.example.com \\
    --header 'api.example.com:Authorization=Bearer \${e2b.secrets.api-token}'`,
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
