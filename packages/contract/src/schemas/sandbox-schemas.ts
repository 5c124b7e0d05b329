// The sandbox routes' bodies, queries and answers (/v1/sandboxes).
import { type Static, Type } from "typebox";
import { ENV_VAR_NAME_PATTERN, LIMITS, SANDBOX_NAME_PATTERN, TEMPLATE_PATTERN } from "../limits.js";
import { SANDBOX_ERROR_REASONS, SANDBOX_STATES, SANDBOX_STOP_REASONS } from "../sandbox-states.js";
import { DateTime, Nullable, StringMap } from "./shared.js";

export const SandboxIdParams = Type.Object({
  id: Type.String({
    minLength: 1,
    maxLength: 64,
    description: "The sandbox's id (sb- and 8 hex digits) or its name",
  }),
});

const SandboxName = Type.String({
  minLength: 1,
  maxLength: LIMITS.sandboxNameLength,
  pattern: SANDBOX_NAME_PATTERN,
  description:
    "Your name for the sandbox, usable wherever its id is. Unique among your live sandboxes: the name frees up as soon as its sandbox is being destroyed, expires or fails (state error), and then still finds that ended sandbox until another one takes the name. Lowercase letters, digits and hyphens; not of the form sb-1a2b3c4d.",
});

export const State = Type.Enum([...SANDBOX_STATES]);

export const Resources = Type.Object({
  vcpus: Type.Integer(),
  memoryMb: Type.Integer(),
  diskMb: Type.Integer(),
});

const Cidrs = Type.Array(
  Type.String({ maxLength: LIMITS.egressEntryLength, description: "IPv4 address or CIDR" }),
  { maxItems: LIMITS.egressEntries },
);

const AllowList = Type.Array(
  Type.String({
    maxLength: LIMITS.egressEntryLength,
    description:
      "IPv4 address, CIDR, host name or *.wildcard (names: TCP 80/443 by TLS SNI or HTTP Host, through the agent's egress proxy)",
  }),
  { maxItems: LIMITS.egressEntries },
);

/** E2B's egressProxy as sent; checkEgressProxy holds the rules (bytes, host, port). */
export const EgressProxyInput = Nullable(
  Type.Object(
    {
      address: Type.String({
        maxLength: LIMITS.egressProxyAddressLength,
        description: "host:port of a SOCKS5 proxy: an IPv4 address or a host name (no IPv6)",
      }),
      username: Type.Optional(Type.String({ maxLength: LIMITS.egressProxyCredentialBytes })),
      password: Type.Optional(
        Type.String({
          maxLength: LIMITS.egressProxyCredentialBytes,
          description: "Stored sealed; never returned",
        }),
      ),
    },
    {
      additionalProperties: false,
      description:
        "Bring your own SOCKS5 proxy (RFC 1928, user/password RFC 1929): every TCP connection the rules allow is tunneled through it, host-name rules asking it for the name; UDP is not; if it is down or refuses the credentials the connection is refused, never sent direct. null: none",
    },
  ),
);

/** What a read shows of the egressProxy: never the password. */
export const EgressProxyView = Type.Object({
  address: Type.String(),
  username: Type.Optional(Type.String()),
});

const EGRESS_DESCRIPTION =
  "allowOut is reachable whatever denyOut says; with allowInternet everything but denyOut is reachable, without it only allowOut. The host, other sandboxes, private, link-local and metadata ranges stay closed unless the operator opens them (WRENN_EGRESS_ALLOW_CIDRS)";

/** E2B's semantics: allowOut wins over denyOut; without allowInternet only allowOut is reachable. */
/**
 * network.rules (E2B's): headers set on HTTP(S) requests to a domain by the host's egress
 * proxy, values possibly `${e2b.secrets.NAME}`. The shape only; checkEgressHeaderRules decides.
 */
// Written as StringMap is (additionalProperties + propertyNames, not Type.Record): the document
// shows exactly the schema that validates, and a Record's key pattern would reject no key.
export const EgressHeaderRulesSchema = Type.Unsafe<
  Record<string, Array<{ transform: { headers: Record<string, string> } }>>
>({
  type: "object",
  additionalProperties: Type.Array(
    Type.Object({
      transform: Type.Object({
        headers: StringMap(
          LIMITS.egressRuleHeaderNameLength,
          LIMITS.egressRuleHeaderValueLength,
          LIMITS.egressRuleHeaders,
        ),
      }),
    }),
    { maxItems: LIMITS.egressRulesPerDomain },
  ),
  propertyNames: { type: "string", minLength: 1, maxLength: LIMITS.egressEntryLength },
  maxProperties: LIMITS.egressRuleDomains,
  description: `Per domain (a name or *.domain, as in allowOut): headers the egress proxy sets on every HTTP and HTTPS request to it (HTTPS is terminated with the sandbox's own CA, installed in its trust store). Values may hold \${e2b.secrets.NAME}, filled in on the host, never in the sandbox. Rules do not allow a domain: allowOut does.`,
  examples: [
    {
      "api.example.com": [
        { transform: { headers: { Authorization: `Bearer \${e2b.secrets.API_TOKEN}` } } },
      ],
    },
  ],
});

const EgressLists = Type.Object(
  {
    allowOut: Type.Optional(AllowList),
    denyOut: Type.Optional(Cidrs),
    egressProxy: Type.Optional(EgressProxyInput),
    rules: Type.Optional(EgressHeaderRulesSchema),
  },
  { additionalProperties: false, description: EGRESS_DESCRIPTION },
);

/** At create, beside the egress lists as in E2B's SDK: who may reach the sandbox's ports. */
const CreateNetwork = Type.Object(
  {
    ...EgressLists.properties,
    allowPublicTraffic: Type.Optional(
      Type.Boolean({
        description:
          "false: a port reached through the proxy needs the header e2b-traffic-access-token with the sandbox's trafficAccessToken. Default true: anyone with the URL",
      }),
    ),
  },
  { additionalProperties: false, description: EGRESS_DESCRIPTION },
);

export const Sandbox = Type.Object({
  id: Type.String(),
  name: Nullable(SandboxName),
  state: State,
  template: Type.String(),
  resources: Resources,
  metadata: Type.Record(Type.String(), Type.String()),
  envVarNames: Type.Array(Type.String(), { description: "Values are never stored" }),
  allowInternet: Type.Boolean(),
  network: Type.Object({
    allowOut: Type.Array(Type.String()),
    denyOut: Type.Array(Type.String()),
    egressProxy: Type.Optional(EgressProxyView),
    rules: Type.Optional(EgressHeaderRulesSchema),
  }),
  allowPublicTraffic: Type.Boolean({
    description: "false: its ports need the traffic access token (set at create)",
  }),
  autoPause: Type.Boolean(),
  autoResume: Type.Boolean({
    description: "Traffic through the proxy to it while paused resumes it first",
  }),
  timeoutSeconds: Type.Integer(),
  envdVersion: Nullable(Type.String()),
  hostId: Nullable(Type.String()),
  startedAt: DateTime,
  endAt: DateTime,
  stateChangedAt: DateTime,
  createdAt: DateTime,
  stoppedAt: Nullable(DateTime),
  error: Nullable(Type.String()),
  errorReason: Nullable(
    Type.Enum([...SANDBOX_ERROR_REASONS], {
      description:
        "Why the sandbox is in `error`: `oom` (it ran out of its memory), `pids` (it reached its task limit), `crashed` (it stopped on its own otherwise), `interrupted` (an operation on it was cut short, e.g. its host agent died during a pause), `failed` (an operation on it failed), `lost` (its host no longer has it). Null in every other state. Its files stay readable through the files API while it is in `error`, when its host still has them.",
    }),
  ),
  stopReason: Nullable(
    Type.Enum([...SANDBOX_STOP_REASONS], {
      description:
        "How a stopped (or stopping) sandbox ended: `destroyed` (someone destroyed it) or `expired` (its timeout ran out; `endAt` is when). Null while it has not been stopped.",
    }),
  ),
});

export const OwnedSandbox = Type.Object({
  ...Sandbox.properties,
  envdAccessToken: Type.String({
    description: "Token for envd inside the sandbox (X-Access-Token)",
  }),
  trafficAccessToken: Nullable(
    Type.String({
      description:
        "Send as the e2b-traffic-access-token header to reach its ports; null when they are public",
    }),
  ),
});

const TimeoutSeconds = Type.Integer({
  minimum: LIMITS.timeoutSeconds.min,
  maximum: LIMITS.timeoutSeconds.max,
  description: `Seconds until the sandbox is destroyed, or paused with autoPause. 0 means no limit of your own: the longest this server allows (${LIMITS.timeoutSeconds.max} s). It never means "end now".`,
});

export const CreateSandboxBody = Type.Object(
  {
    name: Type.Optional(SandboxName),
    template: Type.Optional(
      Type.String({ maxLength: LIMITS.templateLength, pattern: TEMPLATE_PATTERN, default: "base" }),
    ),
    resources: Type.Optional(
      Type.Object(
        {
          vcpus: Type.Optional(
            Type.Integer({ minimum: LIMITS.vcpus.min, maximum: LIMITS.vcpus.max }),
          ),
          memoryMb: Type.Optional(
            Type.Integer({ minimum: LIMITS.memoryMb.min, maximum: LIMITS.memoryMb.max }),
          ),
          diskMb: Type.Optional(
            Type.Integer({ minimum: LIMITS.diskMb.min, maximum: LIMITS.diskMb.max }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    metadata: Type.Optional(
      StringMap(LIMITS.metadataKeyLength, LIMITS.metadataValueLength, LIMITS.metadataEntries),
    ),
    envVars: Type.Optional(
      StringMap(LIMITS.envVarNameLength, LIMITS.envVarValueLength, LIMITS.envVarEntries, {
        keyPattern: ENV_VAR_NAME_PATTERN,
        description: "Passed to the sandbox, never stored",
      }),
    ),
    timeoutSeconds: Type.Optional(TimeoutSeconds),
    autoPause: Type.Optional(
      Type.Boolean({ description: "Pause instead of destroy at the end time" }),
    ),
    autoResume: Type.Optional(
      Type.Boolean({
        description:
          "With autoPause: a request through the proxy (a port URL, or the E2B SDK's traffic) to the sandbox while it is paused resumes it first, as E2B's lifecycle.autoResume",
      }),
    ),
    allowInternet: Type.Optional(
      Type.Boolean({
        description:
          "Reach everything not in network.denyOut. Unset: the operator's default (WRENN_DEFAULT_INTERNET; Wrenn's own is false: only network.allowOut)",
      }),
    ),
    mounts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            hostPath: Type.String({
              minLength: 1,
              maxLength: LIMITS.mountHostPathLength,
              pattern: "^/",
            }),
            path: Type.String({ minLength: 2, maxLength: LIMITS.mountPathLength, pattern: "^/" }),
            readOnly: Type.Optional(Type.Boolean({ default: false })),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: LIMITS.mounts,
          description:
            "Host directories bound into the sandbox (admin keys only; the host agent allows only those under its WRENN_MOUNT_ROOTS). Sandboxes with mounts boot cold.",
        },
      ),
    ),
    network: Type.Optional(CreateNetwork),
  },
  {
    additionalProperties: false,
    // What /docs fills in for "Try it out": it works as written on a fresh stack (no mounts:
    // those need an admin key and an allowed host directory).
    examples: [
      {
        name: "my-first-sandbox",
        template: "base",
        resources: { vcpus: 1, memoryMb: 512 },
        metadata: { project: "demo" },
        envVars: { GREETING: "hello" },
        timeoutSeconds: 600,
      },
    ],
  },
);

/**
 * PUT /v1/sandboxes/{id}/network: the sandbox's whole egress policy, in the fields a sandbox
 * reports it in, so a client can read, change and put it back. What it leaves out is cleared.
 */
export const UpdateNetworkBody = Type.Object(
  {
    allowInternet: Type.Optional(
      Type.Boolean({ description: "Unset: the operator's default, as at create" }),
    ),
    network: Type.Optional(EgressLists),
  },
  {
    additionalProperties: false,
    // What /docs fills in for "Try it out": internet on, the cloud metadata address kept out.
    examples: [{ allowInternet: true, network: { denyOut: ["169.254.169.254/32"] } }],
  },
);

export const ListSandboxesQuery = Type.Object(
  {
    state: Type.Optional(
      Type.Array(Type.String({ maxLength: 200 }), {
        maxItems: 20,
        description: "Repeat or comma-separate; default: every state but stopped",
      }),
    ),
    metadata: Type.Optional(
      Type.Array(
        Type.String({ maxLength: LIMITS.metadataKeyLength + LIMITS.metadataValueLength + 1 }),
        {
          maxItems: LIMITS.metadataEntries,
          description: "key=value, repeatable; all must match",
        },
      ),
    ),
    template: Type.Optional(Type.String({ maxLength: LIMITS.templateLength })),
    startedAfter: Type.Optional(DateTime),
    order: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")])),
    limit: Type.Optional(
      Type.Integer({ minimum: LIMITS.listLimit.min, maximum: LIMITS.listLimit.max, default: 100 }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: LIMITS.cursorLength })),
  },
  { additionalProperties: false },
);

export const SandboxPage = Type.Object({
  sandboxes: Type.Array(Sandbox),
  nextCursor: Nullable(Type.String()),
});

export const TimeoutBody = Type.Object(
  { timeoutSeconds: TimeoutSeconds },
  { additionalProperties: false, examples: [{ timeoutSeconds: 1800 }] },
);

export const ResumeBody = Type.Object(
  {
    timeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: LIMITS.timeoutSeconds.min,
        maximum: LIMITS.timeoutSeconds.max,
        description: `Seconds from now (0: the longest this server allows, ${LIMITS.timeoutSeconds.max} s); default: the timeout the sandbox was created with`,
      }),
    ),
  },
  { additionalProperties: false, examples: [{ timeoutSeconds: 600 }] },
);

export const SandboxStats = Type.Object({
  timestamp: DateTime,
  cpuCount: Type.Integer(),
  cpuUsedPct: Type.Number(),
  memUsedBytes: Type.Number(),
  memTotalBytes: Type.Number(),
  memCacheBytes: Type.Number(),
  diskUsedBytes: Type.Number(),
  diskTotalBytes: Type.Number(),
});

export type SandboxIdParams = Static<typeof SandboxIdParams>;
export type Resources = Static<typeof Resources>;
/** A sandbox as the API reports it (times as ISO 8601 strings). */
export type Sandbox = Static<typeof Sandbox>;
export type OwnedSandbox = Static<typeof OwnedSandbox>;
export type CreateSandboxBody = Static<typeof CreateSandboxBody>;
export type ListSandboxesQuery = Static<typeof ListSandboxesQuery>;
export type SandboxPage = Static<typeof SandboxPage>;
export type TimeoutBody = Static<typeof TimeoutBody>;
export type ResumeBody = Static<typeof ResumeBody>;
export type UpdateNetworkBody = Static<typeof UpdateNetworkBody>;
export type SandboxStats = Static<typeof SandboxStats>;
