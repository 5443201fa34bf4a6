// Drive a live JupyterLab in headless Chromium: run a notebook, then hover, lasso and pan its map.
//
//   node lab.cjs CONFIG.json
//
// CONFIG: {nodeDir, chromium, url (the notebook in /lab/tree/... with ?token=), shots (folder),
//          mapCell (text of the cell whose output holds the map), reportCell (text of the cell
//          to re-run after the lasso), prefix (screenshot names), runTimeoutMs}
// WebGL runs on SwiftShader (software): --use-gl=angle --use-angle=swiftshader.
// Every request that leaves 127.0.0.1 is blocked and recorded. Prints one JSON object.
"use strict";
const path = require("path");
const fs = require("fs");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { chromium } = require(path.join(path.resolve(cfg.nodeDir), "node_modules", "playwright-core"));
const ARGS = [
  "--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
  "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-first-run", "--disable-dev-shm-usage",
];
const out = { consoleErrors: [], pageErrors: [], externalRequests: [], steps: {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function local(url) {
  if (/^(data|blob|about):/.test(url)) return true;
  try {
    const h = new URL(url).hostname;
    return h === "127.0.0.1" || h === "localhost";
  } catch (e) {
    return false;
  }
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    const v = await fn();
    out.steps[name] = { ms: Date.now() - t0 };
    return v;
  } catch (e) {
    out.steps[name] = { ms: Date.now() - t0, error: String(e && e.stack ? e.stack : e).slice(0, 1500) };
    throw e;
  }
}

async function shot(page, name, el) {
  const file = path.join(cfg.shots, `${cfg.prefix}-${name}.png`);
  if (el) await el.screenshot({ path: file });
  else await page.screenshot({ path: file });
  return file;
}

// the visible jscatter tooltip's text ('' when none is shown)
const tooltipText = () => {
  const divs = Array.from(document.querySelectorAll("div"));
  const tip = divs.find((d) => d.style.pointerEvents === "none" && d.style.opacity === "1"
    && d.style.transition.includes("opacity") && d.style.position === "absolute");
  return tip ? tip.innerText : "";
};

// accept a "Select Kernel" dialog (JupyterLab may ask while the session starts); close the news toast
async function dismiss(page) {
  const accept = await page.$(".jp-Dialog .jp-mod-accept");
  if (accept) { await accept.click(); out.dialogs = (out.dialogs || 0) + 1; }
  const no = page.locator('button:text-is("No")'); // "get notified about Jupyter news?" toast
  if (await no.count()) await no.first().click({ timeout: 2000 }).catch(() => {});
}

async function main() {
  fs.mkdirSync(cfg.shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: cfg.chromium, args: ARGS, headless: true });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.route("**/*", (route) => {
    const u = route.request().url();
    if (local(u)) return route.continue();
    out.externalRequests.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text().slice(0, 500)); });
  page.on("pageerror", (e) => out.pageErrors.push(String(e).slice(0, 500)));
  try {
    await step("open", async () => {
      await page.goto(cfg.url, { waitUntil: "domcontentloaded", timeout: 90000 });
      await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 90000 });
      for (let i = 0; i < 180; i++) { // the kernel is up and the status bar says so
        await dismiss(page);
        const ok = await page.evaluate(() => document.body.innerText.includes("Python 3 (ipykernel) | Idle")
          && !document.querySelector(".jp-Dialog"));
        if (ok) break;
        await sleep(500);
      }
      await sleep(1000);
      await dismiss(page);
    });
    out.webgl = await page.evaluate(() => {
      const c = document.createElement("canvas");
      const gl = c.getContext("webgl2") || c.getContext("webgl");
      if (!gl) return null;
      const ext = gl.getExtension("WEBGL_debug_renderer_info");
      return ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    });
    await step("runAll", async () => {
      await page.click('.lm-MenuBar-itemLabel:text-is("Run")');
      await page.click('.lm-Menu-itemLabel:text-is("Run All Cells")');
      const t0 = Date.now();
      for (;;) {
        await dismiss(page);
        const done = await page.evaluate(() => {
          const prompts = Array.from(document.querySelectorAll(".jp-CodeCell .jp-InputPrompt"));
          return prompts.length > 0 && prompts.every((p) => /\[\d+\]/.test(p.textContent));
        });
        if (done) break;
        if (Date.now() - t0 > cfg.runTimeoutMs) throw new Error("Run All Cells did not finish in time");
        await sleep(500);
      }
      out.cellErrors = await page.$$eval('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]',
        (els) => els.map((e) => e.innerText.slice(0, 1500)));
    });
    const cell = page.locator(".jp-CodeCell", { hasText: cfg.mapCell }).first();
    const canvas = await step("findCanvas", async () => {
      await cell.scrollIntoViewIfNeeded();
      await page.waitForFunction((text) => {
        const cells = Array.from(document.querySelectorAll(".jp-CodeCell"));
        const c = cells.find((x) => x.querySelector(".jp-InputArea").innerText.includes(text));
        return c && Array.from(c.querySelectorAll(".jp-OutputArea canvas"))
          .some((cv) => cv.getBoundingClientRect().width > 200 && cv.getBoundingClientRect().height > 200);
      }, cfg.mapCell, { timeout: 60000, polling: 250 });
      const all = await cell.locator(".jp-OutputArea canvas").elementHandles();
      let best = null;
      let area = 0;
      for (const h of all) {
        const b = await h.boundingBox();
        if (b && b.width * b.height > area) { area = b.width * b.height; best = h; }
      }
      await best.scrollIntoViewIfNeeded();
      await sleep(1500); // first frames
      return best;
    });
    const box = await canvas.boundingBox();
    out.canvasBox = box;
    out.shots = { map: await shot(page, "map", canvas), cell: await shot(page, "cell", cell) };

    // hover: spiral out from the centre until jscatter shows a tooltip
    out.hover = await step("hover", async () => {
      const cx = box.x + box.width / 2;
      const cy = box.y + box.height / 2;
      for (let i = 0; i < 400; i++) {
        const a = i * 0.7;
        const r = 3 * Math.sqrt(i) * 3;
        const x = cx + r * Math.cos(a);
        const y = cy + r * Math.sin(a);
        if (x < box.x + 5 || x > box.x + box.width - 5 || y < box.y + 5 || y > box.y + box.height - 5) continue;
        await page.mouse.move(x, y);
        await sleep(40);
        const hit = await page.waitForFunction(tooltipText, null, { timeout: 900, polling: 50 }).catch(() => null);
        if (hit) {
          await sleep(600); // the kernel's answer fills the properties and the text preview
          const text = await page.evaluate(tooltipText);
          return { x, y, tries: i + 1, text };
        }
      }
      return { text: "", tries: 400 };
    });
    out.shots.hover = await shot(page, "hover", cell);

    // lasso: the toolbar's lasso button, then a drag around the centre (an open loop: the lasso
    // closes itself, and a drag ending where it began would count as a click)
    out.lasso = await step("lasso", async () => {
      await cell.locator('button[title="Activate lasso selection"]').first().click();
      await sleep(300);
      const cx = box.x + box.width * 0.5;
      const cy = box.y + box.height * 0.5;
      const rx = box.width * 0.18;
      const ry = box.height * 0.2;
      const pts = [];
      for (let i = 0; i <= 21; i++) {
        const a = (i / 24) * 2 * Math.PI;
        pts.push([cx + rx * Math.cos(a) * (1 + 0.25 * Math.sin(3 * a)), cy + ry * Math.sin(a)]);
      }
      await page.mouse.move(pts[0][0], pts[0][1]);
      await page.mouse.down();
      for (const [x, y] of pts.slice(1)) {
        await page.mouse.move(x, y);
        await sleep(20);
      }
      await page.mouse.up();
      const upAt = Date.now() / 1000;
      await sleep(1500);
      await cell.locator('button[title="Activate pan & zoom"]').first().click();
      return { upAt, points: pts.length };
    });
    out.shots.lasso = await shot(page, "lasso", cell);

    // the report cell reads the selection in the kernel
    out.report = await step("report", async () => {
      const rc = page.locator(".jp-CodeCell", { hasText: cfg.reportCell }).first();
      await rc.scrollIntoViewIfNeeded();
      const before = await rc.locator(".jp-OutputArea").innerText();
      await rc.locator(".jp-InputArea-editor").click();
      await page.keyboard.press("Shift+Enter");
      await page.waitForFunction(([text, old]) => {
        const cells = Array.from(document.querySelectorAll(".jp-CodeCell"));
        const c = cells.find((x) => x.querySelector(".jp-InputArea").innerText.includes(text));
        const o = c && c.querySelector(".jp-OutputArea").innerText;
        return o && o !== old && o.includes("LASSO_REPORT");
      }, [cfg.reportCell, before], { timeout: 60000, polling: 200 });
      const txt = await rc.locator(".jp-OutputArea").innerText();
      const line = txt.split("\n").find((l) => l.startsWith("LASSO_REPORT "));
      out.shots.report = await shot(page, "report", rc);
      return JSON.parse(line.slice("LASSO_REPORT ".length));
    });

    // pan: drag the map (no modifier) and check that the picture moved
    out.pan = await step("pan", async () => {
      await canvas.scrollIntoViewIfNeeded();
      const b = await canvas.boundingBox();
      const a = await canvas.screenshot();
      const t0 = Date.now();
      await page.mouse.move(b.x + b.width * 0.3, b.y + b.height * 0.7);
      await page.mouse.down();
      await page.mouse.move(b.x + b.width * 0.55, b.y + b.height * 0.45, { steps: 12 });
      await page.mouse.up();
      await sleep(800);
      const after = await canvas.screenshot({ path: path.join(cfg.shots, `${cfg.prefix}-panned.png`) });
      return { moved: Buffer.compare(a, after) !== 0, ms: Date.now() - t0 };
    });
  } catch (e) {
    out.fatal = String(e && e.stack ? e.stack : e).slice(0, 3000);
    try { await page.screenshot({ path: path.join(cfg.shots, `${cfg.prefix}-failure.png`), fullPage: false }); } catch (e2) { /* ignore */ }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main();
