// Whether the detail page may offer a terminal, and if not, why. Only a running sandbox has a
// shell to connect to: for any other state the page says so (and offers a resume where one
// applies) instead of showing a terminal that cannot work. The summary's refresh carries this
// out of band, so terminal.js follows the sandbox's state without asking itself.
import type { Sandbox } from "../../service/sandbox-types.js";
import { type Html, html } from "../html/html.js";
import { actionButton, canResume } from "../pages/sandbox-actions.js";

function why(s: Pick<Sandbox, "state" | "error">): string {
  switch (s.state) {
    case "running":
      return "";
    case "paused":
    case "hibernated":
      return `This sandbox is ${s.state}: its processes are stopped, so there is no shell to connect to. Resume it to open a terminal.`;
    case "pending":
    case "starting":
      return "This sandbox is starting; a terminal can be opened once it runs.";
    case "pausing":
      return "This sandbox is being paused; there is no terminal while it is.";
    case "resuming":
      return "This sandbox is resuming; a terminal can be opened once it runs.";
    case "error":
      return `This sandbox failed, so there is no shell to connect to.${s.error ? ` Reason: ${s.error}` : ""}`;
    case "missing":
      return "This sandbox's host does not answer; a terminal can be opened if it comes back.";
    default:
      return "This sandbox has ended: there is nothing to connect a terminal to.";
  }
}

export function terminalGate(s: Pick<Sandbox, "id" | "state" | "error">, oob = false): Html {
  const text = why(s);
  return html`<div id="terminal-gate" class="terminal-gate" data-state="${s.state}"${oob ? html` hx-swap-oob="true"` : ""}>${
    text
      ? html`<p class="dim">${text}</p>${
          canResume(s.state)
            ? actionButton(s.id, "resume", "summary", {
                label: "Resume",
                name: `Resume ${s.id} to open a terminal`,
              })
            : ""
        }`
      : ""
  }</div>`;
}
