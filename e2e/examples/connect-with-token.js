// The client side: hand the token your backend minted to roomcast.

// socket.io-client 3 or 4 (browser or Node): in the CONNECT auth object.
const { io } = require('socket.io-client');

function connectSocketIO(url, token) {
  return io(url, { auth: { token } });
}

// sails.io.js (over socket.io-client 2): in the handshake query, either for
// every socket (`io.sails.query = 'token=' + token` before it connects) or
// for one socket, as here. `sailsIo` is require('sails.io.js')(ioClient2),
// or the `io` global of sails.io.js in a browser.
function connectSails(sailsIo, url, token) {
  return sailsIo.sails.connect(url, { query: 'token=' + encodeURIComponent(token) });
}

module.exports = { connectSocketIO, connectSails };
