// What admin-ui.test.ts checks on every page it visits, and the browser it runs, apart from
// its cases: the screenshots and accessible-name and narrow-screen checks of `shot`, and
// scripts run in the page.
import { join } from "node:path";
import type { Page } from "playwright-core";
import { expect } from "vitest";

export const ARTIFACTS = join(import.meta.dirname, "..", "..", "artifacts", "admin");
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const WAIT = { timeout: 30_000 };
export const WIDE = { width: 1440, height: 900 };
export const NARROW = { width: 390, height: 844 };

// Run in the page (as source: these tests compile without the DOM's types).
/** Elements wider than the screen that no sideways-scrolling box holds, and the page's width. */
export const OVERFLOW_CHECK = `(() => {
  const width = document.documentElement.clientWidth;
  const wider = [...document.querySelectorAll("body *")].filter((el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1) return false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      // An <svg> clips by default; what counts is the HTML box that holds it.
      if (p.namespaceURI !== "http://www.w3.org/1999/xhtml") continue;
      if (ox === "auto" || ox === "scroll" || ox === "hidden")
        return p.getBoundingClientRect().right > width + 1;
    }
    return true;
  }).map((el) => el.outerHTML.slice(0, 100));
  return { scrollWidth: document.documentElement.scrollWidth, width, wider: wider.slice(0, 5) };
})()`;

/** Records every data-state of the element with this id from now on (it may be replaced). */
export const watchStatesScript = (id: string) => `(() => {
  const seen = [];
  window.seenStates = seen;
  const look = () => {
    const state = document.getElementById(${JSON.stringify(id)})?.getAttribute("data-state");
    if (state && seen.at(-1) !== state) seen.push(state);
  };
  new MutationObserver(look).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"],
  });
  look();
})()`;

/** Saves the page for a human to look at, after checking every control has a name. */
export async function shot(page: Page, name: string): Promise<void> {
  const unnamed = await page
    .locator("a, button, input:not([type=hidden]), select, textarea")
    .evaluateAll((controls) =>
      controls
        .filter((el) => {
          if (el.closest(".xterm")) return false; // xterm.js's own helper textarea
          const labels = (el as { labels?: ArrayLike<unknown> | null }).labels;
          const named =
            el.getAttribute("aria-label") ||
            el.getAttribute("aria-labelledby") ||
            (labels && labels.length > 0) ||
            (el.textContent ?? "").trim();
          return !named;
        })
        .map((el) => el.outerHTML.slice(0, 120)),
    );
  expect(unnamed, `controls without an accessible name on ${name}`).toEqual([]);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  // The same page on a phone held upright: nothing may make the page wider than the screen
  // (wide tables scroll inside their own box).
  await page.setViewportSize(NARROW);
  const overflow = (await page.evaluate(OVERFLOW_CHECK)) as {
    scrollWidth: number;
    width: number;
    wider: string[];
  };
  await page.screenshot({ path: join(ARTIFACTS, `${name}-narrow.png`), fullPage: true });
  await page.setViewportSize(WIDE);
  expect(overflow.wider, `overflowing elements on ${name} at 390 px`).toEqual([]);
  expect(overflow.scrollWidth, `${name} at 390 px`).toBeLessThanOrEqual(overflow.width);
}
