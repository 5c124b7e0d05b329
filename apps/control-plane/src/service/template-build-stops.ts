// How a running template build is stopped: by its owner (cancel) or by the operator's time
// limit. Each build this process follows has an AbortController whose signal goes to the host
// agent's build stream; aborting it ends the stream, and the agent kills the running step and
// removes the build (template_build_cancelled). The reason is kept here, so the build's record
// says which of the two it was, whatever the agent's stream answered.
import { errorMessage } from "@wrenn/contract";
import { ServiceError } from "./errors.js";

export type StopReason = "cancelled" | "timed_out";

export class BuildStops {
  private readonly builds = new Map<
    string,
    { controller: AbortController; timer: NodeJS.Timeout; reason?: StopReason }
  >();

  constructor(private readonly timeoutSeconds: number) {}

  /** A build begins: its signal, aborted at the time limit or by cancel(id). */
  begin(id: string): AbortSignal {
    const controller = new AbortController();
    const timer = setTimeout(() => this.stop(id, "timed_out"), this.timeoutSeconds * 1000);
    timer.unref();
    this.builds.set(id, { controller, timer });
    return controller.signal;
  }

  /** Whether this process follows build `id` (a cancel elsewhere finds nothing here). */
  follows(id: string): boolean {
    return this.builds.has(id);
  }

  /** The builds this process follows (their records' ids). */
  followed(): string[] {
    return [...this.builds.keys()];
  }

  /** Stops build `id`; false when this process does not follow it. */
  stop(id: string, reason: StopReason): boolean {
    const build = this.builds.get(id);
    if (!build) return false;
    build.reason ??= reason;
    clearTimeout(build.timer);
    build.controller.abort(new Error(`template build ${reason}`));
    return true;
  }

  /** The build has ended: why it was stopped, if it was, as the error its record keeps. */
  end(id: string, template: string): ServiceError | undefined {
    const build = this.builds.get(id);
    this.builds.delete(id);
    if (!build) return undefined;
    clearTimeout(build.timer);
    return build.reason ? stoppedError(build.reason, template, this.timeoutSeconds) : undefined;
  }
}

/** The record's error for a build stopped for `reason`. */
export function stoppedError(
  reason: StopReason,
  template: string,
  timeoutSeconds: number,
): ServiceError {
  return reason === "cancelled"
    ? new ServiceError(
        "template_build_cancelled",
        `${errorMessage("template_build_cancelled", { template })}; build it again to retry`,
      )
    : new ServiceError(
        "template_build_timed_out",
        `${errorMessage("template_build_timed_out", { template })} of ${timeoutSeconds} s (WRENN_TEMPLATE_BUILD_TIMEOUT_S); make its steps faster or ask the operator to raise it`,
      );
}
