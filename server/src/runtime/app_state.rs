//! [`AppState`]: what the application gave the server — routes, namespaces,
//! hooks, handlers, configuration, and the protocol settings derived from it —
//! shared read-only by every worker.

use std::collections::{HashMap, HashSet};

use crate::access::Access;
use crate::config::ServerConfig;

use crate::handler::{ConnectHook, EventHandler};
use crate::protocol::http::cors::Cors;
use crate::protocol::http::HandshakeConfig;
use crate::protocol::sio::SessionConfig;
use crate::protocol::ws::WsConfig;
use crate::router::Router;

/// See the module docs.
pub(crate) struct AppState {
    /// The socket routes (virtual requests).
    pub(crate) router: Router,
    /// The admin API's write routes.
    pub(crate) admin: Router,
    /// Namespaces clients may CONNECT to (`/` always).
    pub(crate) namespaces: HashSet<String>,
    pub(crate) connect_hooks: HashMap<String, ConnectHook>,
    pub(crate) event_handlers: HashMap<(String, String), EventHandler>,
    /// The bare Engine.IO echo's handshake (test support only).
    #[cfg(feature = "engine-echo")]
    pub(crate) echo_handshake: Option<HandshakeConfig>,
    pub(crate) config: ServerConfig,
    /// Derived from `config`, once.
    pub(crate) handshake: HandshakeConfig,
    pub(crate) session: SessionConfig,
    pub(crate) ws: WsConfig,
    /// The cluster this node is in (`--redis`), for `GET /api/cluster`.
    pub(crate) cluster: Option<crate::cluster::ClusterView>,
    /// CORS for the Engine.IO endpoint (`--cors-origins`).
    pub(crate) cors: Cors,
    /// Tokens, origins, rate limits (none by default).
    pub(crate) access: Access,
    /// The connect webhook's callers (`--connect-webhook`).
    pub(crate) webhook: Option<super::webhook::WebhookPool>,
}

impl AppState {
    /// The state for `config` with these routes and hooks.
    pub(crate) fn new(
        config: ServerConfig,
        router: Router,
        namespaces: HashSet<String>,
        connect_hooks: HashMap<String, ConnectHook>,
        event_handlers: HashMap<(String, String), EventHandler>,
    ) -> AppState {
        let session = SessionConfig {
            ping_interval: config.ping_interval_ms,
            ping_timeout: config.ping_timeout_ms,
            connect_timeout: config.connect_timeout_ms,
            max_payload: config.max_payload as u64,
            ..SessionConfig::default()
        };
        AppState {
            router,
            admin: Router::admin_routes(),
            namespaces,
            connect_hooks,
            event_handlers,
            #[cfg(feature = "engine-echo")]
            echo_handshake: None,
            handshake: HandshakeConfig {
                transports: config.transports,
                ..HandshakeConfig::default()
            },
            cors: Cors {
                origins: config.cors_origins.clone(),
            },
            session,
            ws: WsConfig {
                max_message_size: config.max_payload,
            },
            config,
            cluster: None,
            access: Access::default(),
            webhook: None,
        }
    }

    /// Applies `access` (built from the config by the caller, which reports
    /// its errors); CORS then names only allowed origins unless
    /// `cors_origins` says otherwise.
    pub(crate) fn set_access(&mut self, access: Access) -> std::io::Result<()> {
        if let Some(url) = &self.config.connect_webhook {
            let timeout = std::time::Duration::from_millis(self.config.connect_webhook_timeout_ms);
            self.webhook = Some(super::webhook::WebhookPool::start(url, timeout)?);
        }
        if self.cors.origins.is_none() {
            self.cors.origins = access.origins.as_ref().map(|o| o.as_slice().to_vec());
        }
        self.access = access;
        Ok(())
    }

    /// Whether sockets need an [`AccessTable`](super::access_table::AccessTable) entry.
    pub(crate) fn tracks_access(&self) -> bool {
        self.access.tokens.is_some() || self.access.ops_per_sec.is_some() || self.access.webhook
    }
}
