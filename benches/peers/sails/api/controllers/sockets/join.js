// POST /sockets/join {room}: join the requesting socket to `room`.
module.exports = function join(req, res) {
  const room = req.param("room");
  if (!req.isSocket || typeof room !== "string") return res.badRequest({ error: "E_BAD_REQUEST" });
  req._sails.sockets.join(req, room, (err) => {
    if (err) return res.serverError(err);
    return res.json({ ok: true });
  });
};
