// Your backend, after it has authenticated the user (session, login...):
// a short-lived token for roomcast, signed with the secret the server was
// started with (--jwt-secret or ROOMCAST_JWT_SECRET).
const jwt = require('jsonwebtoken');

function mintRoomcastToken(userId) {
  const claims = {
    sub: String(userId), // the socket's user (GET /api/sockets/:id shows it)
    rooms: [`user:${userId}:*`, 'lobby'], // rooms it may join itself (* = any run)
    exp: Math.floor(Date.now() / 1000) + 15 * 60, // disconnected 15 minutes from now
  };
  return jwt.sign(claims, process.env.ROOMCAST_JWT_SECRET, { algorithm: 'HS256' });
}

module.exports = { mintRoomcastToken };

// `node mint-token.js 42` prints a token for user 42.
if (require.main === module) console.log(mintRoomcastToken(process.argv[2]));
