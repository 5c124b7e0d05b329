// The sandbox detail page's terminal: xterm.js over the admin terminal WebSocket, which speaks
// the API's terminal protocol (binary frames carry keystrokes in and output out; text frames
// are JSON: {"type":"resize",cols,rows} in; started, exit and error out). Nothing connects
// until the admin presses "Open terminal", and only a running sandbox offers it.

// xterm.js writes its own <style> elements; the page's Content-Security-Policy accepts them
// only with this response's nonce, so every <style> made on this page carries it.
const nonce = document.querySelector('meta[name="wrenn-style-nonce"]')?.getAttribute("content");
if (nonce) {
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (tagName, options) {
    const element = createElement.call(this, tagName, options);
    if (String(tagName).toLowerCase() === "style") element.nonce = nonce;
    return element;
  };
}

const host = document.getElementById("terminal");
const statusLine = document.getElementById("terminal-status");
const openButton = document.getElementById("terminal-open");

let term = null;
let fit = null;
let socket = null;
const encoder = new TextEncoder();

function status(text, kind) {
  statusLine.textContent = text;
  statusLine.className = `terminal-status ${kind ?? ""}`;
}

function send(data) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(data);
}

/** The sandbox's state as the summary's last refresh left it (terminal-gate.ts). */
function sandboxState() {
  return document.getElementById("terminal-gate")?.dataset.state;
}

// xterm.js is loaded when the terminal is first opened, not with the page.
async function makeTerminal() {
  const { Terminal } = await import("/admin/assets/xterm.mjs");
  const { FitAddon } = await import("/admin/assets/addon-fit.mjs");
  term = new Terminal({
    cursorBlink: true,
    convertEol: false,
    fontFamily: '"JetBrains Mono", "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace',
    fontSize: 13,
    scrollback: 5000,
    theme: {
      background: "#0c0c0c",
      foreground: "#e8e6e3",
      cursor: "#8fbc8f",
      cursorAccent: "#0c0c0c",
      selectionBackground: "#2f3f2f",
      green: "#8fbc8f",
      brightGreen: "#a3cba3",
    },
  });
  fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  term.onData((data) => send(encoder.encode(data)));
  term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
  term.onResize(({ cols, rows }) => send(JSON.stringify({ type: "resize", cols, rows })));
  new ResizeObserver(() => {
    if (!host.hidden) fit.fit();
  }).observe(host);
}

function connect() {
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  const url = new URL(host.dataset.socket, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("cols", String(term.cols));
  url.searchParams.set("rows", String(term.rows));
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  socket = ws;
  openButton.hidden = true;
  status("connecting…");
  ws.addEventListener("message", (event) => {
    if (typeof event.data !== "string") {
      term.write(new Uint8Array(event.data));
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "started") {
      status(`connected · shell pid ${message.pid}`, "live");
      host.dataset.connected = "true";
      term.focus();
    } else if (message.type === "exit") {
      status(`shell exited (${message.exitCode ?? message.status})`);
    } else if (message.type === "error") {
      status(`error: ${message.message}`, "failed");
    }
  });
  ws.addEventListener("close", (event) => {
    if (socket !== ws) return;
    socket = null;
    delete host.dataset.connected;
    if (!statusLine.classList.contains("failed")) {
      status(event.code === 1000 ? "disconnected" : `disconnected (${event.code})`);
    }
    follow();
  });
}

/**
 * Shows what the sandbox's state allows: the open button for a running sandbox with no
 * terminal connected, and no terminal at all otherwise (the gate says why).
 */
function follow() {
  const running = sandboxState() === "running";
  const connected = socket !== null;
  if (!running) {
    if (socket) socket.close(1000);
    host.hidden = true;
    status("");
  }
  openButton.hidden = !running || connected;
  if (running && !connected && term) openButton.textContent = "Reconnect";
}

openButton.addEventListener("click", async () => {
  openButton.hidden = true;
  host.hidden = false;
  if (term) term.reset();
  else {
    status("loading…");
    await makeTerminal();
  }
  connect();
});

document.addEventListener("htmx:afterSettle", follow);
document.addEventListener("htmx:oobAfterSwap", follow);
follow();
