// Load exported notebook pages in headless Chromium and report what rendered.
//
//   node check.cjs NODE_DIR OUT_DIR CHROMIUM URL[=NAME] ...
//
// For each URL: opens a fresh page (fresh profile for the run), blocks and records every
// request that does not go to 127.0.0.1 (no CDN is reachable, and none may be needed),
// collects console errors, uncaught page errors and failed requests, waits until every
// widget view in the page has rendered and every widget image has loaded, then saves a
// full-page screenshot (NAME.png) and one of the first widget (NAME-widget.png) in OUT_DIR.
// Prints one JSON object: {pages: [{name, url, views, rendered, images, imagesLoaded, ...}]}.
"use strict";
const path = require("path");
const fs = require("fs");
const os = require("os");

const [nodeDir, outDir, chromiumPath, ...targets] = process.argv.slice(2);
const { chromium } = require(path.join(path.resolve(nodeDir), "node_modules", "playwright-core"));

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
];

function local(url) {
  if (url.startsWith("data:") || url.startsWith("blob:") || url.startsWith("about:")) return true;
  try {
    const h = new URL(url).hostname;
    return h === "127.0.0.1" || h === "localhost" || h === "[::1]";
  } catch (e) {
    return false;
  }
}

async function checkPage(context, url, name) {
  const page = await context.newPage();
  const out = { name, url, consoleErrors: [], pageErrors: [], failedRequests: [], externalRequests: [] };
  page.on("console", (msg) => {
    if (msg.type() === "error") out.consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => out.pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on("requestfailed", (req) => {
    if (local(req.url())) out.failedRequests.push(`${req.url()} ${req.failure() ? req.failure().errorText : ""}`);
  });
  await page.setViewportSize({ width: 1280, height: 900 });
  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  // every widget view script gets a rendered widget; every widget image finishes loading
  try {
    await page.waitForFunction(() => {
      const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
      const rendered = document.querySelectorAll(".widget-subarea > .jupyter-widgets, .jupyter-widgets.widget-container").length;
      const imgs = Array.from(document.querySelectorAll("img.widget-image"));
      const loaded = imgs.every((i) => i.complete && i.naturalWidth > 0);
      const plots = document.querySelectorAll(".widget-html svg").length;
      return views > 0 && rendered >= views && (imgs.length > 0 || plots > 0) && loaded;
    }, null, { timeout: 60000, polling: 250 });
  } catch (e) {
    out.waitError = String(e);
  }
  out.renderMs = Date.now() - t0;
  Object.assign(out, await page.evaluate(() => {
    const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
    const imgs = Array.from(document.querySelectorAll("img.widget-image"));
    const text = document.body.innerText || "";
    return {
      views: views.length,
      rendered: document.querySelectorAll(".widget-subarea > .jupyter-widgets").length,
      vboxes: document.querySelectorAll(".widget-vbox").length,
      images: imgs.length,
      imagesLoaded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
      imageSizes: imgs.map((i) => [i.naturalWidth, i.naturalHeight]),
      // inline SVG charts inside widget HTML (compare_metrics' plots), with their drawn size
      plots: document.querySelectorAll(".widget-html svg").length,
      plotSizes: Array.from(document.querySelectorAll(".widget-html svg")).map((e) => {
        const b = e.getBoundingClientRect();
        return [Math.round(b.width), Math.round(b.height), e.querySelectorAll("path").length];
      }),
      htmlWidgets: document.querySelectorAll(".widget-html").length,
      tables: document.querySelectorAll(".widget-html table").length,
      buttons: document.querySelectorAll("button.widget-button, .jupyter-button").length,
      sliders: document.querySelectorAll(".widget-slider").length,
      textInputs: document.querySelectorAll(".widget-text input").length,
      errorBanners: (text.match(/Error displaying widget|Error rendering|Failed to load model/g) || []).length,
      title: document.title,
    };
  }));
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  const first = await page.$(".widget-subarea > .jupyter-widgets.widget-vbox");
  if (first) await first.screenshot({ path: path.join(outDir, `${name}-widget.png`) });
  await page.close();
  return out;
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "vecnb-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true, args: ARGS, ignoreDefaultArgs: ["--enable-automation"],
  });
  const external = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (local(url)) return route.continue();
    external.push(url);
    return route.abort("blockedbyclient");
  });
  const pages = [];
  try {
    for (const t of targets) {
      const cut = t.lastIndexOf("=");
      const [url, name] = cut > 0 ? [t.slice(0, cut), t.slice(cut + 1)] : [t, `page${pages.length}`];
      const res = await checkPage(context, url, name);
      res.externalRequests = external.splice(0);
      pages.push(res);
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ pages }) + "\n");
})().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e && e.stack ? e.stack : e) }) + "\n");
  process.exit(2);
});
