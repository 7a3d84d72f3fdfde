//! [`AllowedOrigins`]: the web origins whose pages may open a socket
//! (`--allowed-origins`, Sails' `onlyAllowOrigins`).
//!
//! Every Engine.IO request (the handshake over either transport, polls, the
//! WebSocket upgrade) with an `Origin` header not in the list is refused with
//! 403 before anything happens. A request without `Origin` is not a browser
//! page (a server, a mobile app, a command-line client) and is allowed: the
//! origin check guards users' browsers against other sites, it is not
//! authentication (that is the token's job). Origins compare as
//! `scheme://host[:port]`, ASCII case-insensitively; the literal `null`
//! (sandboxed pages, `file:`) is allowed only when listed.

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// The list (entries are trimmed; a trailing `/` is ignored).
    #[must_use]
    pub fn new(origins: &[String]) -> AllowedOrigins {
        AllowedOrigins {
            origins: origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a request with this `Origin` header (`None`: none) may go on.
    #[must_use]
    pub fn allows(&self, origin: Option<&[u8]>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let origin = origin.trim();
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The list, normalized.
    #[must_use]
    pub fn as_slice(&self) -> &[String] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> AllowedOrigins {
        AllowedOrigins::new(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn listed_origins_only_and_requests_without_origin() {
        let a = list(&["https://app.example.com", "http://localhost:3000/"]);
        assert!(a.allows(Some(b"https://app.example.com")));
        assert!(a.allows(Some(b"HTTPS://APP.example.com")));
        assert!(a.allows(Some(b"http://localhost:3000")));
        assert!(a.allows(None));
        assert!(!a.allows(Some(b"https://evil.example.com")));
        assert!(!a.allows(Some(b"https://app.example.com.evil.net")));
        assert!(!a.allows(Some(b"http://app.example.com")), "scheme matters");
        assert!(!a.allows(Some(b"http://localhost:3001")), "port matters");
        assert!(!a.allows(Some(b"null")));
        assert!(!a.allows(Some(b"\xff")));
        assert!(list(&["null"]).allows(Some(b"null")));
    }
}
