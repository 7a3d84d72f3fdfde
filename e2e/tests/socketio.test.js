// socket.io-client 4.8 (Engine.IO v4, Socket.IO v5) against roomcast.
'use strict';
const { defineScenarios } = require('./scenarios');
const { connectV4 } = require('./clients');

defineScenarios('socket.io-client 4.8 (EIO4)', connectV4);
