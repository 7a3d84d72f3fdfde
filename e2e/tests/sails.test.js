// sails.io.js 1.2.1 with socket.io-client 2.0.3 (Engine.IO v3, Socket.IO v4) against roomcast.
'use strict';
const { defineScenarios } = require('./scenarios');
const { connectSails } = require('./clients');

defineScenarios('sails.io.js 1.2.1 + socket.io-client 2.0.3 (EIO3)', connectSails);
