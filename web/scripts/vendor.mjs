// Copies the dist files the explorer loads from node_modules into vendor/ (git-ignored),
// which the API serves at /vendor/. No bundler: each file is used as published.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(web, "node_modules");
const vendor = join(web, "vendor");

/** [source under node_modules, destination under vendor] */
const FILES = [
  ["preact/dist/preact.mjs", "preact/preact.mjs"],
  ["preact/hooks/dist/hooks.mjs", "preact/hooks.mjs"],
  ["preact/LICENSE", "preact/LICENSE"],
  ["htm/dist/htm.mjs", "htm/htm.mjs"],
  ["htm/LICENSE", "htm/LICENSE"],
  ["@preact/signals-core/dist/signals-core.mjs", "signals/signals-core.mjs"],
  ["@preact/signals/dist/signals.mjs", "signals/signals.mjs"],
  ["@preact/signals/LICENSE", "signals/LICENSE"],
  ["wavesurfer.js/dist/wavesurfer.esm.js", "wavesurfer/wavesurfer.esm.js"],
  ["wavesurfer.js/dist/plugins/regions.esm.js", "wavesurfer/regions.esm.js"],
  ["wavesurfer.js/dist/plugins/timeline.esm.js", "wavesurfer/timeline.esm.js"],
  ["wavesurfer.js/dist/plugins/zoom.esm.js", "wavesurfer/zoom.esm.js"],
  ["wavesurfer.js/dist/plugins/hover.esm.js", "wavesurfer/hover.esm.js"],
  ["wavesurfer.js/LICENSE", "wavesurfer/LICENSE"],
  ["graphql-ws/umd/graphql-ws.min.js", "graphql-ws/graphql-ws.min.js"],
  // graphql-ws' ES client imports one shared chunk whose name carries a hash
  ...readdirSync(join(modules, "graphql-ws/dist"))
    .filter((name) => /^(client|common-[\w-]+)\.js$/.test(name))
    .map((name) => [`graphql-ws/dist/${name}`, `graphql-ws/${name}`]),
  ["graphql-ws/LICENSE.md", "graphql-ws/LICENSE.md"],
  ["graphiql/graphiql.min.js", "graphiql/graphiql.min.js"],
  ["graphiql/graphiql.min.css", "graphiql/graphiql.min.css"],
  ["graphiql/LICENSE", "graphiql/LICENSE"],
  ["react/umd/react.production.min.js", "graphiql/react.production.min.js"],
  ["react-dom/umd/react-dom.production.min.js", "graphiql/react-dom.production.min.js"],
  ["react/LICENSE", "graphiql/LICENSE.react"],
];

rmSync(vendor, { recursive: true, force: true });
for (const [source, destination] of FILES) {
  const from = join(modules, source);
  if (!existsSync(from)) {
    console.error(`web/scripts/vendor.mjs: ${from} is missing (run npm ci in web/)`);
    process.exit(1);
  }
  const to = join(vendor, destination);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
console.log(`web/vendor: ${FILES.length} files copied`);
