// POST /sockets/broadcast {rooms, event?, data}: sails.sockets.broadcast.
module.exports = function broadcast(req, res) {
  const rooms = req.param("rooms");
  req._sails.sockets.broadcast(rooms, req.param("event") || "message", req.param("data"));
  return res.json({ ok: true });
};
