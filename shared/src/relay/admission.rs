//! Whether a connection request gets a WebSocket, decided from the request's facts.
//!
//! Every listener that serves account data beyond loopback (the native relay, the
//! bridge's remote endpoint, the edge relay's Worker) asks [`admit`] with what the
//! request says: its path, query string, `Origin`, offered subprotocols. The answer is
//! the same everywhere:
//!
//! 1. a path that is not a WebSocket route: 404; a route without an upgrade: 426;
//! 2. a browser page from an origin not on the exact allowlist: 403 before the
//!    upgrade, so the page never sees its socket open;
//! 3. a token in the query string (it would end up in access logs and browser
//!    history): upgraded only to be closed with 4500 and an error frame saying why;
//! 4. a token offered as the `bearer.<JWT>` subprotocol is verified now (4500 / 4501
//!    when it fails); without one the client must send `auth` as its first frame;
//! 5. the `ibws` subprotocol is echoed when offered; a token never is.
//!
//! Connection limits and handshake rates are the host's (the native relay counts
//! per IP; Cloudflare meters the edge) and run between steps 2 and 3.

use crate::auth::{Claims, TokenVerifier};
use crate::protocol::CloseCode;

pub use super::origin::OriginPolicy;

/// Query parameters that look like a credential.
pub const TOKEN_PARAMS: [&str; 6] = ["token", "access_token", "jwt", "auth", "authorization", "bearer"];

/// What a request says about itself (headers as sent; absent ones `None`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    pub path: &'a str,
    /// The query string without `?`.
    pub query: &'a str,
    /// `Upgrade: websocket` was asked for.
    pub upgrade: bool,
    pub origin: Option<&'a str>,
    /// The `Sec-WebSocket-Protocol` header.
    pub protocols: Option<&'a str>,
}

/// Which side of the relay a socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `/websocket/ws`: a client of the stream.
    Client,
    /// `/bridge/ws`: a bridge publishing its stream.
    Bridge,
}

/// A refusal: before the upgrade (an HTTP status), or after it (a close code, with an
/// error frame first, because browsers see nothing of an HTTP refusal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Http { status: u16, body: &'static str },
    Close { code: CloseCode, reason: &'static str },
}

/// The decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// `/healthz`: answered with no account data.
    Health,
    Accept {
        role: Role,
        /// Claims of a `bearer.` token, already verified (clients only).
        claims: Option<Claims>,
        /// Answer with `Sec-WebSocket-Protocol: ibws`.
        echo_ibws: bool,
        /// The seed's `client_id` parameter.
        client_id: Option<String>,
        /// The `tenant` parameter (not a secret: routing for clients that `auth`
        /// later; the token's tenant is checked against the stream's).
        tenant: Option<String>,
    },
    Refused(Refused),
}

fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|kv| !kv.is_empty()).map(|kv| kv.split_once('=').unwrap_or((kv, "")))
}

/// The value of query parameter `name`, percent-decoded (`+` is a space); `None`
/// when absent, empty or not UTF-8.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let raw = query_pairs(query).find(|(k, _)| *k == name)?.1.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().filter(|v| !v.is_empty())
}

/// The token offered as a `bearer.<JWT>` subprotocol, if any.
pub fn bearer(protocols: Option<&str>) -> Option<&str> {
    protocols?.split(',').map(str::trim).find_map(|p| p.strip_prefix("bearer."))
}

/// Decides one request. See the module documentation for the order of the checks.
/// `verifier: None` is the seed-compatible local endpoint, which has no tokens (so no
/// token checks either).
pub fn admit(
    req: &Request,
    origins: &OriginPolicy,
    verifier: Option<&dyn TokenVerifier>,
    now_unix_secs: u64,
) -> Admission {
    let role = match req.path {
        "/healthz" => return Admission::Health,
        "/websocket/ws" => Role::Client,
        "/bridge/ws" => Role::Bridge,
        _ => return Admission::Refused(Refused::Http { status: 404, body: "not found\n" }),
    };
    if !req.upgrade {
        return Admission::Refused(Refused::Http { status: 426, body: "WebSocket upgrade required\n" });
    }
    if !origins.permits(req.origin) {
        return Admission::Refused(Refused::Http { status: 403, body: "origin not allowed\n" });
    }
    if verifier.is_some() && query_pairs(req.query).any(|(k, _)| TOKEN_PARAMS.iter().any(|t| t.eq_ignore_ascii_case(k)))
    {
        return Admission::Refused(Refused::Close {
            code: CloseCode::InvalidToken,
            reason: "tokens are not accepted in the query string; send {\"type\":\"auth\"} first",
        });
    }
    let offered = || req.protocols.unwrap_or("").split(',').map(str::trim);
    let mut claims = None;
    if let (Role::Client, Some(verifier)) = (role, verifier) {
        if let Some(token) = bearer(req.protocols) {
            match verifier.verify(token, now_unix_secs) {
                Ok(c) => claims = Some(c),
                Err(e) => {
                    return Admission::Refused(Refused::Close { code: e.close_code(), reason: "authentication failed" })
                }
            }
        }
    }
    Admission::Accept {
        role,
        claims,
        echo_ibws: offered().any(|p| p == "ibws"),
        client_id: query_param(req.query, "client_id").filter(|c| c.len() <= 128),
        tenant: query_param(req.query, "tenant").filter(|t| t.len() <= 128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::OneToken;

    fn ask(path: &str, query: &str, origin: Option<&str>, protocols: Option<&str>) -> Admission {
        let req = Request { path, query, upgrade: true, origin, protocols };
        admit(&req, &OriginPolicy::remote(vec!["https://app.example".into()]), Some(&OneToken { exp: u64::MAX }), 0)
    }

    fn close_code(a: Admission) -> Option<u16> {
        match a {
            Admission::Refused(Refused::Close { code, .. }) => Some(code.code()),
            _ => None,
        }
    }

    #[test]
    fn checks_run_in_order_and_fail_closed() {
        assert_eq!(ask("/healthz", "", None, None), Admission::Health);
        assert!(matches!(ask("/metrics", "", None, None), Admission::Refused(Refused::Http { status: 404, .. })));
        let no_upgrade = Request { path: "/websocket/ws", ..Default::default() };
        assert!(matches!(
            admit(&no_upgrade, &OriginPolicy::remote(vec![]), Some(&OneToken { exp: u64::MAX }), 0),
            Admission::Refused(Refused::Http { status: 426, .. })
        ));
        // a foreign origin is refused before anything about its token is looked at
        assert!(matches!(
            ask("/websocket/ws", "token=good", Some("https://evil.example"), Some("bearer.good")),
            Admission::Refused(Refused::Http { status: 403, .. })
        ));
        for q in ["token=good", "ACCESS_TOKEN=x", "tenant=desk1&jwt", "Bearer=x"] {
            assert_eq!(close_code(ask("/bridge/ws", q, None, None)), Some(4500), "{q}");
        }
        assert_eq!(close_code(ask("/websocket/ws", "", None, Some("ibws, bearer.bad"))), Some(4500));
        assert_eq!(close_code(ask("/websocket/ws", "", None, Some("bearer.old"))), Some(4501));
        match ask(
            "/websocket/ws",
            "client_id=my%20app&tenant=desk1",
            Some("https://app.example"),
            Some("ibws, bearer.good"),
        ) {
            Admission::Accept { role, claims, echo_ibws, client_id, tenant } => {
                assert_eq!((role, echo_ibws), (Role::Client, true));
                assert_eq!(claims.map(|c| c.tenant).as_deref(), Some("desk1"));
                assert_eq!((client_id.as_deref(), tenant.as_deref()), (Some("my app"), Some("desk1")));
            }
            other => panic!("{other:?}"),
        }
        // the local endpoint has no tokens, and so no token checks
        let local = Request { path: "/websocket/ws", query: "token=x", upgrade: true, ..Default::default() };
        assert!(matches!(admit(&local, &OriginPolicy::local(vec![]), None, 0), Admission::Accept { .. }));
    }

    #[test]
    fn query_values_are_percent_decoded_and_bad_escapes_kept() {
        assert_eq!(query_param("a=x%2Fy&b=1", "a").as_deref(), Some("x/y"));
        assert_eq!(query_param("a=%zz%4", "a").as_deref(), Some("%zz%4"));
        assert_eq!(query_param("a=&b", "a"), None);
        assert_eq!(query_param("a=%FF", "a"), None, "not UTF-8");
    }
}
