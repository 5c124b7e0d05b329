// The admin UI's page script (a static file: the Content-Security-Policy allows no inline
// script). htmx does the requests; this reports failures, shows a sandbox's transitional state
// while an action on it runs, and copies new keys.
(() => {
  let flashTimer;

  function flash(text, ok) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("ok", Boolean(ok));
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => {
      box.textContent = "";
    }, 8000);
  }

  /** The message of a failed request: plain text from the admin routes, JSON from the API. */
  function messageOf(xhr) {
    const text = (xhr.responseText || "").trim();
    try {
      const parsed = JSON.parse(text);
      if (parsed?.error?.message) return parsed.error.message;
    } catch {
      // Not JSON: the text itself.
    }
    return text.slice(0, 300) || `request failed (${xhr.status})`;
  }

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    // Redirects to the login page are htmx's business.
    if (xhr.getResponseHeader("HX-Redirect")) return;
    flash(messageOf(xhr));
  });
  document.addEventListener("htmx:sendError", () => {
    flash("The control plane did not answer; is it running?");
  });
  // A refresh that fails (the server restarting, say) should not leave a stale error once it
  // works again.
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful && event.detail.requestConfig?.verb === "post") {
      const box = document.getElementById("flash");
      if (box && !box.classList.contains("ok")) box.textContent = "";
    }
  });

  // Pause, resume and destroy take seconds; the service moves the sandbox to pausing, resuming
  // or stopping as the request starts. The row (or summary) shows that state until the answer
  // replaces it, and gets its own back if the request fails.
  const busyShown = new Map();
  function badgeOf(box) {
    return box.querySelector(".state");
  }
  document.addEventListener("htmx:beforeRequest", (event) => {
    const button = event.detail.elt;
    const busy = button?.getAttribute?.("data-busy");
    const box = busy && document.getElementById(button.getAttribute("data-busy-for") || "");
    if (!box) return;
    const badge = badgeOf(box);
    busyShown.set(button, { box, state: box.dataset.state, text: badge?.textContent });
    box.dataset.state = busy;
    box.classList.add("busy");
    if (badge) {
      badge.textContent = busy;
      badge.className = `state state-${busy}`;
    }
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const shown = busyShown.get(event.detail.elt);
    if (!shown) return;
    busyShown.delete(event.detail.elt);
    if (event.detail.successful || !shown.box.isConnected) return;
    shown.box.dataset.state = shown.state;
    shown.box.classList.remove("busy");
    const badge = badgeOf(shown.box);
    if (badge) {
      badge.textContent = shown.text;
      badge.className = `state state-${shown.state}`;
    }
  });

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    const input = document.getElementById(button.getAttribute("data-copy") || "");
    if (!(input instanceof HTMLInputElement)) return;
    input.select();
    const done = () => {
      button.textContent = "Copied";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, () => {
        button.textContent = "Select and copy";
      });
    } else {
      button.textContent = "Selected: press Ctrl+C";
    }
  });
})();
