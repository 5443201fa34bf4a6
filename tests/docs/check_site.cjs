// Open every page of the documentation site in headless Chromium and report what happened.
//
//   node check_site.cjs NODE_DIR OUT_DIR CHROMIUM BASE_URL PAGE ...
//
// PAGE is a path under BASE_URL (e.g. notebooks/07_explore_embeddings.html). For each page:
// a fresh tab; every request that does not go to 127.0.0.1 is blocked and recorded (the
// network is closed: a page that needs a CDN, a web font or a remote script shows up here);
// console errors, uncaught page errors and failed requests are collected; then the check
// waits until every widget view script on the page has a rendered, non-empty view beside it
// (the html-manager inserts a .widget-subarea before each view script) and every image has
// loaded. Screenshots: OUT_DIR/<page path with / -> __>.png (the whole page, or its first
// 12,000 px) and, on pages with widgets, <...>-widget.png of the first widget view.
// Prints one JSON line: {pages: [{page, views, rendered, emptyViews, images, brokenImages, ...}]}.
"use strict";
const path = require("path");
const fs = require("fs");
const os = require("os");

const [nodeDir, outDir, chromiumPath, baseUrl, ...pagePaths] = process.argv.slice(2);
const { chromium } = require(path.join(path.resolve(nodeDir), "node_modules", "playwright-core"));

const ARGS = [
  "--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
  // WebGL (the jupyter-scatter map) through SwiftShader, the software renderer
  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
];
const MAX_SHOT_HEIGHT = 12000;

function local(url) {
  if (/^(data|blob|about):/.test(url)) return true;
  try {
    const h = new URL(url).hostname;
    return h === "127.0.0.1" || h === "localhost" || h === "[::1]";
  } catch (e) {
    return false;
  }
}

function widgetState() {
  // runs in the page: for every widget view script, is there a rendered, non-empty view?
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  let rendered = 0;
  const empty = [];
  for (const s of views) {
    const area = s.previousElementSibling;
    const ok = area && area.classList.contains("widget-subarea") && area.children.length > 0;
    const box = ok ? area.getBoundingClientRect() : null;
    if (ok && box.width > 0 && box.height > 0) rendered += 1;
    else empty.push(JSON.parse(s.textContent || "{}").model_id || "?");
  }
  const imgs = Array.from(document.images);
  return {
    views: views.length, rendered, emptyViews: empty,
    images: imgs.length, brokenImages: imgs.filter((i) => i.complete && i.naturalWidth === 0).map((i) => i.src),
    pendingImages: imgs.filter((i) => !i.complete).length,
  };
}

async function checkPage(context, url, page_path) {
  const page = await context.newPage();
  const out = { page: page_path, url, consoleErrors: [], pageErrors: [], failedRequests: [], externalRequests: [] };
  page.on("console", (msg) => {
    if (msg.type() === "error") out.consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => out.pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on("requestfailed", (req) => {
    const why = req.failure() ? req.failure().errorText : "";
    if (local(req.url())) out.failedRequests.push(`${req.url()} ${why}`);
    else out.externalRequests.push(req.url());
  });
  page.on("response", (res) => {
    if (res.status() >= 400) out.failedRequests.push(`${res.url()} HTTP ${res.status()}`);
  });
  await page.setViewportSize({ width: 1280, height: 900 });
  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  try {
    await page.waitForFunction(() => {
      const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
      let rendered = 0;
      for (const s of views) {
        const a = s.previousElementSibling;
        if (a && a.classList.contains("widget-subarea") && a.children.length > 0 && a.getBoundingClientRect().height > 0) rendered += 1;
      }
      const pending = Array.from(document.images).some((i) => !i.complete);
      return rendered >= views.length && !pending;
    }, null, { timeout: 90000, polling: 250 });
  } catch (e) {
    out.waitError = String(e).split("\n")[0];
  }
  await page.waitForTimeout(300); // let late errors (a widget's first draw) surface
  out.renderMs = Date.now() - t0;
  Object.assign(out, await page.evaluate(widgetState));
  out.title = await page.title();
  fs.mkdirSync(outDir, { recursive: true });
  const name = page_path.replace(/\.html$/, "").replace(/\//g, "__");
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  if (height <= MAX_SHOT_HEIGHT) {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  } else {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), clip: { x: 0, y: 0, width: 1280, height: MAX_SHOT_HEIGHT } });
  }
  out.screenshot = `${name}.png`;
  if (out.views > 0) {
    const first = await page.$(".widget-subarea");
    if (first) {
      // the theme's sticky header would cover the top of an element screenshot
      await page.addStyleTag({ content: ".bd-header, .skip-link { display: none !important; }" });
      await first.scrollIntoViewIfNeeded();
      await first.screenshot({ path: path.join(outDir, `${name}-widget.png`) });
      out.widgetScreenshot = `${name}-widget.png`;
    }
  }
  await page.close();
  return out;
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "vecnb-docs-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true, args: ARGS, ignoreDefaultArgs: ["--enable-automation"],
  });
  await context.route("**/*", (route) => {
    if (local(route.request().url())) return route.continue();
    return route.abort("blockedbyclient"); // reported through requestfailed -> externalRequests
  });
  const pages = [];
  try {
    for (const p of pagePaths) pages.push(await checkPage(context, `${baseUrl}/${p}`, p));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ pages }) + "\n");
})().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e && e.stack ? e.stack : e) }) + "\n");
  process.exit(2);
});
