// Makes `import … from "stepagent"` resolve inside this repository (notebooks/ in particular):
// node_modules/stepagent → the repository root. Run by `npm install` (the prepare script).
const fs = require("node:fs");
const path = require("node:path");
const link = path.join(__dirname, "..", "node_modules", "stepagent");
try {
  const st = fs.lstatSync(link);
  if (st.isSymbolicLink() && fs.readlinkSync(link) === "..") process.exit(0);
  fs.rmSync(link, { recursive: true, force: true });
} catch {
  // not there yet
}
fs.mkdirSync(path.dirname(link), { recursive: true });
fs.symlinkSync("..", link, "dir");
