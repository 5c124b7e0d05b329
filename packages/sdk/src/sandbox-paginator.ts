// Sandbox.list(): your sandboxes a page at a time (E2B's paginator shape), or all of them with
// `for await`.
import { LIMITS } from "@wrenn/contract";
import type { ApiClient } from "./api-client.js";
import { InvalidArgumentError, UnexpectedResponseError } from "./errors.js";
import { Shape } from "./json-shape.js";
import { parseSandbox, type SandboxInfo, type SandboxState } from "./sandbox-info.js";

export interface SandboxQuery {
  /** All must match. */
  metadata?: Record<string, string>;
  /** Default: every state but stopped. */
  state?: SandboxState[];
  template?: string;
  startedAfter?: Date;
}

export interface SandboxListOpts {
  query?: SandboxQuery;
  /** By start time; default desc (newest first). */
  order?: "asc" | "desc";
  /** Page size (1-1000, default 100). */
  limit?: number;
  /** Resume a listing where an earlier page ended. */
  nextToken?: string;
}

/** Pages of `Sandbox.list()`: `nextItems()` while `hasNext`, or `for await` over all of them. */
export class SandboxPaginator implements AsyncIterable<SandboxInfo> {
  private token: string | undefined;
  private started = false;

  constructor(
    private readonly api: ApiClient,
    private readonly opts: SandboxListOpts = {},
  ) {
    const limit = opts.limit;
    const { min, max } = LIMITS.listLimit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < min || limit > max)) {
      throw new InvalidArgumentError(
        "invalid_request",
        `limit must be ${min}-${max}, got ${limit}`,
      );
    }
    this.token = opts.nextToken;
  }

  /** Whether another page may follow (true before the first page). */
  get hasNext(): boolean {
    return !this.started || this.token !== undefined;
  }

  /** The token of the next page, to continue later with `{ nextToken }`. */
  get nextToken(): string | undefined {
    return this.token;
  }

  /** The next page; an empty array once there are no more. */
  async nextItems(): Promise<SandboxInfo[]> {
    if (!this.hasNext) return [];
    const q = this.opts.query ?? {};
    const body = await this.api.json({
      path: "/v1/sandboxes",
      query: {
        state: q.state?.length ? q.state.join(",") : undefined,
        metadata: q.metadata ? Object.entries(q.metadata).map(([k, v]) => `${k}=${v}`) : undefined,
        template: q.template,
        startedAfter: q.startedAfter?.toISOString(),
        order: this.opts.order,
        limit: this.opts.limit,
        cursor: this.token,
      },
    });
    const page = Shape.of(body, "page");
    const next = page.raw("nextCursor");
    if (next !== null && typeof next !== "string") {
      throw new UnexpectedResponseError("unexpected_response", "page.nextCursor is not a string");
    }
    this.started = true;
    this.token = next ?? undefined;
    return page.array("sandboxes").map((s, i) => parseSandbox(s, `page.sandboxes[${i}]`));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SandboxInfo> {
    while (this.hasNext) {
      for (const s of await this.nextItems()) yield s;
    }
  }
}
