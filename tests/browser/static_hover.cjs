// Hover the jupyter-scatter map of an exported HTML page (no kernel) and report the tooltip.
//
//   node static_hover.cjs NODE_DIR CHROMIUM URL SHOT.png
//
// Waits for the largest canvas (the WebGL map), spirals the mouse out from its centre until
// jscatter shows a tooltip, waits for its fields to fill, and prints one JSON object:
// {text, tries, canvas, consoleErrors, pageErrors, externalRequests}. Requests leaving
// 127.0.0.1 are blocked and recorded.
"use strict";
const path = require("path");

const [nodeDir, chromiumPath, url, shotPath] = process.argv.slice(2);
const { chromium } = require(path.join(path.resolve(nodeDir), "node_modules", "playwright-core"));
const ARGS = [
  "--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
  "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-first-run", "--disable-dev-shm-usage",
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const local = (u) => /^(data|blob|about):/.test(u) || /^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(u);
// the visible jscatter tooltip's text ('' when none is shown): same probe as lab.cjs
const tooltipText = () => {
  const tip = Array.from(document.querySelectorAll("div")).find((d) => d.style.pointerEvents === "none"
    && d.style.opacity === "1" && d.style.transition.includes("opacity") && d.style.position === "absolute");
  return tip ? tip.innerText : "";
};

(async () => {
  const out = { consoleErrors: [], pageErrors: [], externalRequests: [] };
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.route("**/*", (route) => {
      const u = route.request().url();
      if (local(u)) return route.continue();
      out.externalRequests.push(u);
      return route.abort();
    });
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text().slice(0, 500)); });
    page.on("pageerror", (e) => out.pageErrors.push(String(e).slice(0, 500)));
    await page.goto(url, { waitUntil: "load", timeout: 60000 });
    await page.waitForFunction(() => Array.from(document.querySelectorAll("canvas"))
      .some((c) => c.getBoundingClientRect().width > 200 && c.getBoundingClientRect().height > 200),
    null, { timeout: 90000, polling: 250 });
    let box = null;
    for (const h of await page.$$("canvas")) {
      const b = await h.boundingBox();
      if (b && (!box || b.width * b.height > box.width * box.height)) box = b;
    }
    out.canvas = box;
    await sleep(1500); // first frames
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    out.text = "";
    for (let i = 0; i < 400 && !out.text; i++) {
      const a = i * 0.7;
      const r = 9 * Math.sqrt(i);
      const x = cx + r * Math.cos(a);
      const y = cy + r * Math.sin(a);
      if (x < box.x + 5 || x > box.x + box.width - 5 || y < box.y + 5 || y > box.y + box.height - 5) continue;
      await page.mouse.move(x, y);
      const hit = await page.waitForFunction(tooltipText, null, { timeout: 700, polling: 50 }).catch(() => null);
      if (hit) {
        await sleep(800); // let the fields fill (there is no kernel to answer: they come from the page)
        out.text = await page.evaluate(tooltipText);
        out.tries = i + 1;
      }
    }
    if (shotPath) await page.screenshot({ path: shotPath });
  } catch (e) {
    out.fatal = String(e && e.stack ? e.stack : e).slice(0, 2000);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})();
