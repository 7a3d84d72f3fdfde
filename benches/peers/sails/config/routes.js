// The two virtual-request routes loadgen uses.
module.exports.routes = {
  "POST /sockets/join": { action: "sockets/join" },
  "POST /sockets/broadcast": { action: "sockets/broadcast" },
};
