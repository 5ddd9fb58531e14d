/** `stepagent report`: failures name the notebook and cell and leave nothing behind; the HTML draws in Chromium. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Resvg } from "@resvg/resvg-js";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "dist/cli/main.js");

function notebook(cells: string[]): string {
  return JSON.stringify({
    cells: cells.map((source, i) => ({ cell_type: "code", id: `c${i}`, metadata: {}, execution_count: null, outputs: [], source })),
    metadata: { kernelspec: { name: "stepagent-tslab", display_name: "TypeScript (stepagent, tslab)", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

function stepagent(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
}

test("a throwing cell: non-zero exit, the notebook and cell named with the error, no report written", (t) => {
  // Inside the repository, so that `import … from "stepagent"` resolves as it does in notebooks/.
  const dir = fs.mkdtempSync(path.join(ROOT, "test", ".tmp-report-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const nb = path.join(dir, "broken.ipynb");
  fs.writeFileSync(nb, notebook(['const x: number = 1;\nconsole.log("fine", x);', 'import { TabularMdp } from "stepagent";\nnew TabularMdp({ states: 0, actions: 2, horizon: 3, seed: 1 });', 'console.log("never runs");']));
  const out = path.join(dir, "out");
  const r = stepagent("report", nb, "--out", out);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /broken\.ipynb: cell 1 failed: InputError: states: must be ≥ 1, got 0/);
  assert.match(r.stderr, /new TabularMdp/);
  assert.deepEqual(fs.existsSync(out) ? fs.readdirSync(out) : [], []);
});

test("a missing kernel: the message says how to install it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-report-"));
  const nb = path.join(dir, "ok.ipynb");
  fs.writeFileSync(nb, notebook(["console.log(1);"]));
  const r = stepagent("report", nb, "--out", path.join(dir, "out"), "--kernel", "no-such-kernel");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no kernel named "no-such-kernel"/);
  assert.match(r.stderr, /npm install/);
  assert.match(r.stderr, /npm run jupyter:install/);
});

test("the HTML report draws its charts in headless Chromium", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepagent-report-"));
  const r = stepagent("report", path.join(ROOT, "notebooks/01-quickstart.ipynb"), "--out", dir);
  assert.equal(r.status, 0, r.stderr);
  const html = path.join(dir, "01-quickstart.html");
  const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));
  assert.ok(chromium, "chromium is not installed (.ci/run installs it: apt-get install chromium)");
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", `--user-data-dir=${fs.mkdtempSync(path.join(os.tmpdir(), "chromium-"))}`];
  // The DOM after rendering: the chart's SVG elements are there.
  const dom = spawnSync(chromium!, [...flags, "--dump-dom", `file://${html}`], { encoding: "utf8", timeout: 60_000 });
  const svgCount = (dom.stdout.match(/<svg[^>]*class="marks"/g) ?? []).length;
  const pathCount = (dom.stdout.match(/<path/g) ?? []).length;
  assert.ok(svgCount >= 1, `${svgCount} charts in the rendered DOM`);
  assert.ok(pathCount > 20, `${pathCount} paths`);
  // A screenshot: decode the PNG through resvg (an <image> in an SVG) and count non-white pixels.
  const shot = path.join(dir, "shot.png");
  spawnSync(chromium!, [...flags, `--screenshot=${shot}`, "--window-size=1100,1400", `file://${html}`], { timeout: 60_000 });
  const png = fs.readFileSync(shot);
  const wrapper = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1100" height="1400"><image width="1100" height="1400" xlink:href="data:image/png;base64,${png.toString("base64")}"/></svg>`;
  const pixels = new Resvg(wrapper).render().pixels;
  let ink = 0;
  let coloured = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const [rr, gg, bb] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    if (rr < 200 || gg < 200 || bb < 200) ink++;
    if (Math.max(rr, gg, bb) - Math.min(rr, gg, bb) > 80) coloured++; // chart lines are coloured; text is grey
  }
  const n = pixels.length / 4;
  assert.ok(ink / n > 0.01, `ink ${ink / n}`);
  assert.ok(coloured > 200, `${coloured} coloured pixels (chart lines)`);
});
