// Publishes through @socket.io/redis-emitter 5 (a backend with no socket.io
// server): the messages carry uid "emitter".
//
// Usage: node emitter.js [--redis URL] [--key socket.io] [--nsp /] OP...
//   emit EVENT JSON_DATA [--to ROOM]... [--except ROOM]... [--volatile] [--hex HEX]
//   join ROOM... [--to ROOM]... [--except ROOM]...        (socketsJoin)
//   leave ROOM... [--to ROOM]... [--except ROOM]...       (socketsLeave)
//   disconnect [--close] [--to ROOM]... [--except ROOM]...
//   server-side-emit EVENT JSON_ARG...
// `--hex HEX` appends a binary argument (a Buffer) to emit.
"use strict";
const { createClient } = require("redis");
const { Emitter } = require("@socket.io/redis-emitter");

function parse(argv) {
  const o = { to: [], except: [], pos: [], redis: process.env.REDIS_URL || "redis://127.0.0.1:6379", key: process.env.KEY || "socket.io", nsp: "/" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--to") o.to.push(argv[++i]);
    else if (a === "--except") o.except.push(argv[++i]);
    else if (a === "--redis") o.redis = argv[++i];
    else if (a === "--key") o.key = argv[++i];
    else if (a === "--nsp") o.nsp = argv[++i];
    else if (a === "--hex") o.hex = argv[++i];
    else if (a === "--volatile") o.volatile = true;
    else if (a === "--close") o.close = true;
    else o.pos.push(a);
  }
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const client = createClient({ url: o.redis });
  client.on("error", (e) => console.error("redis error:", e.message));
  await client.connect();
  let emitter = new Emitter(client, { key: o.key });
  if (o.nsp !== "/") emitter = emitter.of(o.nsp);
  let op = emitter;
  if (o.to.length) op = op.to(o.to);
  if (o.except.length) op = op.except(o.except);
  if (o.volatile) op = op.volatile;
  const [cmd, ...rest] = o.pos;
  switch (cmd) {
    case "emit": {
      const args = rest.slice(1).map((x) => JSON.parse(x));
      if (o.hex !== undefined) args.push(Buffer.from(o.hex, "hex"));
      op.emit(rest[0], ...args);
      break;
    }
    case "join":
      op.socketsJoin(rest);
      break;
    case "leave":
      op.socketsLeave(rest);
      break;
    case "disconnect":
      op.disconnectSockets(!!o.close);
      break;
    case "server-side-emit":
      emitter.serverSideEmit(rest[0], ...rest.slice(1).map((x) => JSON.parse(x)));
      break;
    default:
      console.error("unknown op; see the header of emitter.js");
      process.exitCode = 2;
  }
  await client.quit(); // QUIT after the PUBLISH replies: nothing is lost
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
