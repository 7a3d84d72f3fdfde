// Writes captures/fixtures/README.md from the two index files the drivers leave.
"use strict";
const fs = require("fs");
const path = require("path");
const dir = path.join(__dirname, "..", "captures", "fixtures");
const rows = [];
for (const f of ["socketio-index.json", "sails-index.json"]) {
  const p = path.join(dir, f);
  if (fs.existsSync(p)) rows.push(...JSON.parse(fs.readFileSync(p)));
}
const md = [
  "# Wire fixtures: one file per message published on Redis",
  "",
  "Raw bytes exactly as PUBLISHed (the message payload only, no RESP framing), caught by a `PSUBSCRIBE *` client",
  "while `capture.sh` ran real socket.io / Sails nodes. `socketio-*`: @socket.io/redis-adapter 8.3.0 and",
  "@socket.io/redis-emitter 5.1.0 (msgpack = notepack.io 3.0.1); `sails-*`: @sailshq/socket.io-redis 6.1.2",
  "(notepack.io 2.2.0) and the Sails admin bus (JSON). Decoded field by field in ../socketio-adapter-8.md and",
  "../sails-6.1.md (search for the file name). Ids (uids, requestIds, socket ids) differ at every capture run.",
  "",
  "| file | bytes | channel | meaning |",
  "| --- | ---: | --- | --- |",
  ...rows.map((r) => `| ${r.file} | ${r.size} | \`${r.channel}\` | ${r.meaning.replace(/\|/g, "\\|")} |`),
  "",
];
fs.writeFileSync(path.join(dir, "README.md"), md.join("\n"));
console.log(`fixtures/README.md: ${rows.length} files`);
