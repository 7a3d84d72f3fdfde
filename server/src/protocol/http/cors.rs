//! CORS for the Engine.IO endpoint (`--cors-origins`), sans-IO: which origin a
//! response may name in `Access-Control-Allow-Origin`, and the answer to a
//! preflight.
//!
//! Browsers on another origin poll with XHR/fetch and (socket.io-client 2,
//! sails.io.js) send cookies, so an allowed origin is named exactly (never `*`)
//! with `Access-Control-Allow-Credentials: true`. Without a list every origin is
//! reflected (socket.io's `cors: { origin: true }`); with a list, others get no
//! CORS headers and the browser refuses the answer. A request without `Origin`
//! (not a browser) needs none.

use super::request::Request;
use super::response::http_response;

/// The CORS policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins (`scheme://host[:port]`, compared exactly, ASCII
    /// case-insensitively); `None`: every origin.
    pub origins: Option<Vec<String>>,
}

/// Seconds a browser may cache a preflight answer.
pub const MAX_AGE: &str = "86400";

impl Cors {
    /// The origin `req` comes from, if it may read the answer.
    #[must_use]
    pub fn allowed<'r>(&self, req: &'r Request) -> Option<&'r str> {
        let origin = req.header("origin")?;
        match &self.origins {
            None => Some(origin),
            Some(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then_some(origin),
        }
    }

    /// The headers an answer to `req` carries (none when its origin may not
    /// read it).
    #[must_use]
    pub fn headers(&self, req: &Request) -> Vec<(&'static str, String)> {
        match self.allowed(req) {
            Some(origin) => headers_for(origin),
            None => Vec::new(),
        }
    }

    /// The answer to a preflight (`OPTIONS`): 204 with the methods and the
    /// headers asked for (`authorization` and `content-type` always), or 204
    /// without CORS headers for an origin that may not read.
    #[must_use]
    pub fn preflight(&self, req: &Request) -> Vec<u8> {
        let mut headers: Vec<(&str, String)> = Vec::new();
        if let Some(origin) = self.allowed(req) {
            headers.extend(headers_for(origin));
            headers.push(("Access-Control-Allow-Methods", "GET, POST, OPTIONS".into()));
            let asked = req
                .header("access-control-request-headers")
                .unwrap_or_default();
            let mut allow = vec!["authorization".to_owned(), "content-type".to_owned()];
            for h in asked.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                let h = h.to_ascii_lowercase();
                let token = h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                if token && !allow.contains(&h) && allow.len() < 32 {
                    allow.push(h);
                }
            }
            headers.push(("Access-Control-Allow-Headers", allow.join(", ")));
            headers.push(("Access-Control-Max-Age", MAX_AGE.into()));
        }
        let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        http_response(204, &refs, b"", req.keep_alive())
    }
}

/// The headers naming `origin` as allowed.
#[must_use]
pub fn headers_for(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Access-Control-Allow-Origin", origin.to_owned()),
        ("Access-Control-Allow-Credentials", "true".to_owned()),
        ("Vary", "Origin".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::request::parse_request;

    fn req(head: &str) -> Request {
        parse_request(head.as_bytes(), 16384, 64).unwrap().unwrap()
    }

    #[test]
    fn reflect_allow_list_and_preflight() {
        let from = req("GET /socket.io/ HTTP/1.1\r\nOrigin: https://app.example\r\n\r\n");
        let none = req("GET /socket.io/ HTTP/1.1\r\n\r\n");
        let any = Cors::default();
        assert_eq!(any.allowed(&from), Some("https://app.example"));
        assert_eq!(any.allowed(&none), None);
        let list = Cors {
            origins: Some(vec!["https://APP.example".into()]),
        };
        assert_eq!(list.allowed(&from), Some("https://app.example"));
        let other = req("GET /socket.io/ HTTP/1.1\r\nOrigin: https://evil.example\r\n\r\n");
        assert!(list.headers(&other).is_empty());
        let h = list.headers(&from);
        assert!(h.contains(&("Access-Control-Allow-Credentials", "true".into())));

        let pre = req(
            "OPTIONS /socket.io/?EIO=4 HTTP/1.1\r\nOrigin: https://app.example\r\n\
             Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: Content-Type, X-Token, bad header\r\n\r\n",
        );
        let out = String::from_utf8(list.preflight(&pre)).unwrap();
        assert!(out.starts_with("HTTP/1.1 204"), "{out}");
        assert!(out.contains("Access-Control-Allow-Origin: https://app.example\r\n"));
        assert!(out.contains("Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"));
        assert!(
            out.contains("Access-Control-Allow-Headers: authorization, content-type, x-token\r\n"),
            "{out}"
        );
        let out = String::from_utf8(list.preflight(&other)).unwrap();
        assert!(out.starts_with("HTTP/1.1 204") && !out.contains("Access-Control"));
    }
}
