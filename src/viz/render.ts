/**
 * Server-side rendering: vega-lite → vega → SVG (vega's headless "none" renderer), SVG → PNG
 * (resvg). No browser, no canvas package. vega 5 / vega-lite 5 are used because they load with
 * `require()` (vega 6 uses top-level await, which tslab's CommonJS cells cannot load).
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import type { VegaLiteSpec } from "./specs";

/** Only DejaVu fonts are guaranteed on the machines this was built on; resvg falls back to serif otherwise. */
const FONT = "DejaVu Sans";

export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: { loadSystemFonts: true, defaultFontFamily: FONT, sansSerifFamily: FONT },
  });
  return resvg.render().asPng();
}
