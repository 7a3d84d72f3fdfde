// Sails 1.5 peer: a tiny app (config/routes.js + two actions) with every hook
// that is not needed for sockets turned off. sails-hook-sockets 2.x serves
// socket.io 2.x, so clients speak EIO=3 (loadgen --eio3).
// Usage: node peer.js [port]
"use strict";
const sails = require("sails");

const port = Number(process.argv[2] || 1340);
sails.lift(
  {
    appPath: __dirname,
    port,
    environment: "development",
    log: { level: "warn" },
    hooks: {
      grunt: false,
      orm: false,
      pubsub: false,
      blueprints: false,
      views: false,
      session: false,
      i18n: false,
      policies: false,
      services: false,
      helpers: false,
      sockets: require("sails-hook-sockets"),
    },
    sockets: { transports: ["websocket"], beforeConnect: false, onlyAllowOrigins: undefined },
    security: { csrf: false },
  },
  (err) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    console.log(`sails ${require("sails/package.json").version} peer on 127.0.0.1:${port}`);
  },
);
