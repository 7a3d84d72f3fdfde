// A TCP proxy in front of a roomcast server that holds back WebSocket upgrade
// requests until the test opens the gate. A client with default options opens
// on long-polling through it and probes WebSocket at once; holding the probe
// lets a test start a stream of broadcasts over polling first, then let the
// upgrade happen while the stream flows. It also counts the upgrade requests a
// client made (a polling-only client makes none).
'use strict';
const net = require('node:net');

const HEAD_LIMIT = 16 * 1024;

/** Starts a gate to 127.0.0.1:`targetPort`; resolves to { url, open(), upgrades(), waiting(), stop() }. */
function startUpgradeGate(targetPort) {
  const sockets = new Set();
  const held = []; // callbacks forwarding the upgrade requests waiting at the gate
  let isOpen = false;
  let upgrades = 0;

  const track = (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); };

  const server = net.createServer((conn) => {
    track(conn);
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      if (!text.includes('\r\n\r\n') && head.length < HEAD_LIMIT) return;
      conn.off('data', onData);
      conn.pause(); // anything after the head waits in the socket until piped
      const forward = () => {
        const upstream = net.connect(targetPort, '127.0.0.1');
        track(upstream);
        upstream.on('error', () => conn.destroy());
        conn.on('error', () => upstream.destroy());
        conn.on('close', () => upstream.destroy());
        upstream.on('close', () => conn.destroy());
        upstream.write(head);
        conn.pipe(upstream);
        upstream.pipe(conn);
      };
      // Only the first request of a connection is looked at: an upgrade always
      // comes on a connection of its own.
      if (/^GET [^ ]*[?&]transport=websocket[& ]/.test(text)) {
        upgrades += 1;
        if (isOpen) forward(); else held.push(forward);
      } else {
        forward();
      }
    };
    conn.on('data', onData);
    conn.on('error', () => conn.destroy());
  });

  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        /** Lets the held upgrade requests through, and every later one. */
        open: () => { isOpen = true; for (const f of held.splice(0)) f(); },
        /** WebSocket upgrade requests seen so far (held or forwarded). */
        upgrades: () => upgrades,
        /** Upgrade requests held at the gate now. */
        waiting: () => held.length,
        stop: () => new Promise((done) => {
          held.length = 0;
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

module.exports = { startUpgradeGate };
