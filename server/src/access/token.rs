//! [`TokenVerifier`]: JSON Web Tokens presented by clients (`--jwt-secret`,
//! `--jwt-public-key`), checked with `jsonwebtoken`.
//!
//! * Keys: HS256 with a shared secret, or a PEM public key — RSA (RS256) or
//!   EC P-256 (ES256). Only that one algorithm is accepted: a token whose
//!   header names another (`none`, or HS256 signed with the public key) is
//!   invalid.
//! * `exp` and `nbf` are checked against the wall clock with `leeway_s`
//!   seconds of slack (default 0). A token without `exp` does not expire (the
//!   issuer decides; Centrifugo does the same).
//! * Claims used: `sub` (the socket's user), `rooms` (glob patterns of the
//!   rooms the socket may join itself, see [`RoomPattern`]); others are
//!   ignored.
//!
//! Nothing here logs or returns the token itself.

use std::path::Path;

use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::grant::Grant;
use super::room_pattern::RoomPattern;

/// Why a token was refused (a label for `/metrics` and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No token presented.
    Missing,
    /// Malformed, wrong signature, wrong algorithm, or bad claims.
    Invalid,
    /// Past `exp` (plus the leeway).
    Expired,
    /// Before `nbf` (minus the leeway).
    NotYetValid,
}

impl TokenRefusal {
    /// The `/metrics` label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            TokenRefusal::Missing => "token_missing",
            TokenRefusal::Invalid => "token_invalid",
            TokenRefusal::Expired => "token_expired",
            TokenRefusal::NotYetValid => "token_not_yet_valid",
        }
    }
}

/// The key tokens are checked with.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    leeway_s: u64,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("leeway_s", &self.leeway_s)
            .finish_non_exhaustive()
    }
}

/// The claims roomcast reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    rooms: Option<RoomsClaim>,
    exp: Option<u64>,
}

/// `rooms`: a list of patterns, or one pattern.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RoomsClaim {
    One(String),
    Many(Vec<String>),
}

impl TokenVerifier {
    /// HS256 with `secret`.
    ///
    /// # Errors
    ///
    /// An empty secret.
    pub fn hs256(secret: &[u8], leeway_s: u64) -> Result<TokenVerifier, String> {
        if secret.is_empty() {
            return Err("jwt_secret must not be empty".into());
        }
        let key = DecodingKey::from_secret(secret).map_err(|e| format!("jwt_secret: {e}"))?;
        Ok(TokenVerifier::with(key, Algorithm::HS256, leeway_s))
    }

    /// RS256 or ES256 with the PEM public key in `pem` (RSA → RS256, EC P-256
    /// → ES256).
    ///
    /// # Errors
    ///
    /// Text that is neither an RSA nor an EC public key in PEM.
    pub fn public_key_pem(pem: &[u8], leeway_s: u64) -> Result<TokenVerifier, String> {
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Ok(TokenVerifier::with(key, Algorithm::RS256, leeway_s));
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            return Ok(TokenVerifier::with(key, Algorithm::ES256, leeway_s));
        }
        Err("jwt_public_key: not an RSA or EC (P-256) public key in PEM".into())
    }

    /// As [`public_key_pem`](Self::public_key_pem), reading the file at `path`.
    ///
    /// # Errors
    ///
    /// An unreadable file, or not a key.
    pub fn public_key_file(path: &Path, leeway_s: u64) -> Result<TokenVerifier, String> {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read jwt_public_key {}: {e}", path.display()))?;
        TokenVerifier::public_key_pem(&pem, leeway_s)
            .map_err(|e| format!("{e} ({})", path.display()))
    }

    fn with(key: DecodingKey, alg: Algorithm, leeway_s: u64) -> TokenVerifier {
        let mut validation = Validation::new(alg);
        validation.leeway = leeway_s;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        TokenVerifier {
            key,
            validation,
            leeway_s,
        }
    }

    /// The algorithm tokens must be signed with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.validation.algorithms[0]
    }

    /// Checks `token` (`None`: none presented) now.
    ///
    /// # Errors
    ///
    /// Why it is refused.
    pub fn verify(&self, token: Option<&str>) -> Result<Grant, TokenRefusal> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let token = token.ok_or(TokenRefusal::Missing)?;
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenRefusal::Expired,
                ErrorKind::ImmatureSignature => TokenRefusal::NotYetValid,
                _ => TokenRefusal::Invalid,
            })?;
        let c = data.claims;
        let rooms = c.rooms.map(|r| match r {
            RoomsClaim::One(p) => vec![RoomPattern::new(&p)],
            RoomsClaim::Many(v) => v.iter().map(|p| RoomPattern::new(p)).collect(),
        });
        Ok(Grant {
            user: c.sub,
            rooms,
            // The socket is disconnected once the leeway past `exp` is over.
            expires_at_s: c.exp.map(|e| e.saturating_add(self.leeway_s)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn hs(claims: &serde_json::Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_hs256_token_gives_its_user_and_rooms() {
        let v = TokenVerifier::hs256(b"s3cret", 0).unwrap();
        let t = hs(
            &json!({"sub": "ann", "rooms": ["chat:*", "lobby"], "exp": now() + 60}),
            b"s3cret",
        );
        let g = v.verify(Some(&t)).unwrap();
        assert_eq!(g.user.as_deref(), Some("ann"));
        assert!(g.may_join("chat:x") && g.may_join("lobby") && !g.may_join("admin"));
        assert_eq!(g.expires_at_s, Some(now() + 60));
        // One pattern as a string; no `rooms`: any room; no `exp`: no expiry.
        let g = v
            .verify(Some(&hs(&json!({"rooms": "a*"}), b"s3cret")))
            .unwrap();
        assert!(g.may_join("ab") && !g.may_join("ba"));
        let g = v.verify(Some(&hs(&json!({}), b"s3cret"))).unwrap();
        assert!(g.may_join("anything") && g.user.is_none() && g.expires_at_s.is_none());
    }

    #[test]
    fn refusals_say_why() {
        let v = TokenVerifier::hs256(b"s3cret", 0).unwrap();
        assert_eq!(v.verify(None).unwrap_err(), TokenRefusal::Missing);
        assert_eq!(v.verify(Some("  ")).unwrap_err(), TokenRefusal::Missing);
        assert_eq!(v.verify(Some("x.y.z")).unwrap_err(), TokenRefusal::Invalid);
        let wrong_key = hs(&json!({"sub": "a"}), b"other");
        assert_eq!(
            v.verify(Some(&wrong_key)).unwrap_err(),
            TokenRefusal::Invalid
        );
        let expired = hs(&json!({"exp": now() - 5}), b"s3cret");
        assert_eq!(v.verify(Some(&expired)).unwrap_err(), TokenRefusal::Expired);
        let early = hs(&json!({"nbf": now() + 60}), b"s3cret");
        assert_eq!(
            v.verify(Some(&early)).unwrap_err(),
            TokenRefusal::NotYetValid
        );
        let bad_claim = hs(&json!({"rooms": 3}), b"s3cret");
        assert_eq!(
            v.verify(Some(&bad_claim)).unwrap_err(),
            TokenRefusal::Invalid
        );
        // Leeway: 5 s past exp is fine with 30 s of leeway, and the grant
        // expires when the leeway is over.
        let lenient = TokenVerifier::hs256(b"s3cret", 30).unwrap();
        let g = lenient.verify(Some(&expired)).unwrap();
        assert_eq!(g.expires_at_s, Some(now() - 5 + 30));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let v = TokenVerifier::hs256(b"s3cret", 0).unwrap();
        // {"alg":"none"} . {"sub":"x"} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(v.verify(Some(none)).unwrap_err(), TokenRefusal::Invalid);
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &json!({"sub": "x"}),
            &EncodingKey::from_secret(b"s3cret").unwrap(),
        )
        .unwrap();
        assert_eq!(v.verify(Some(&hs512)).unwrap_err(), TokenRefusal::Invalid);
    }

    #[test]
    fn public_keys_must_be_pem_keys() {
        assert!(TokenVerifier::public_key_pem(b"not a key", 0).is_err());
        assert!(TokenVerifier::hs256(b"", 0).is_err());
        assert!(TokenVerifier::public_key_file(Path::new("/nonexistent.pem"), 0).is_err());
    }
}
