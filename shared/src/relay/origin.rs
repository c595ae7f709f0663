//! Which browser pages may open a WebSocket (OWASP: an exact Origin allowlist on every
//! handshake; non-browser clients send no Origin and are not affected), and which
//! `Host` names the local endpoint answers (a defence against DNS rebinding).

/// Origins allowed to connect.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    /// Exact origins (`https://app.example.com`); `*` allows any.
    pub allowed: Vec<String>,
    /// Also allow loopback pages (`http://localhost:*`, `http://127.0.0.1:*`,
    /// `http://[::1]:*`). On for the local endpoint, off for remote ones.
    pub allow_loopback: bool,
}

impl OriginPolicy {
    pub fn local(allowed: Vec<String>) -> Self {
        OriginPolicy { allowed, allow_loopback: true }
    }

    pub fn remote(allowed: Vec<String>) -> Self {
        OriginPolicy { allowed, allow_loopback: false }
    }

    pub fn permits(&self, origin: Option<&str>) -> bool {
        let Some(o) = origin else { return true };
        if self.allowed.iter().any(|a| a == o || a == "*") {
            return true;
        }
        if !self.allow_loopback {
            return false;
        }
        let host = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")).unwrap_or("");
        let host = if let Some(v6) = host.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host.split(':').next().unwrap_or("")
        };
        matches!(host, "localhost" | "127.0.0.1" | "::1")
    }
}

/// `Host` names a loopback-only listener answers: loopback names and addresses, with
/// or without a port, plus exact names the user allowed. A page on `evil.example`
/// that rebinds its name to 127.0.0.1 sends `Host: evil.example` and is refused, on
/// every route, so it cannot read the account same-origin.
#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    /// Extra names (`myhost.lan`, `myhost.lan:8000`) to answer besides loopback.
    pub allowed: Vec<String>,
}

impl HostPolicy {
    pub fn permits(&self, host: Option<&str>) -> bool {
        // HTTP/1.1 requires Host; a request without one is not from a browser page.
        let Some(h) = host.map(str::trim) else { return true };
        if self.allowed.iter().any(|a| a.eq_ignore_ascii_case(h)) {
            return true;
        }
        let name = if let Some(v6) = h.strip_prefix('[') {
            match v6.split_once(']') {
                Some((addr, rest)) if rest.is_empty() || port_only(rest) => addr,
                _ => return false,
            }
        } else {
            match h.split_once(':') {
                Some((n, rest)) if port_only(&format!(":{rest}")) => n,
                Some(_) => return false,
                None => h,
            }
        };
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
            || self.allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

fn port_only(rest: &str) -> bool {
    rest.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let p = HostPolicy::default();
        for ok in ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:8000", "[::1]", "[::1]:8000", "127.1.2.3:80"]
        {
            assert!(p.permits(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.5:8000",
            "[::2]:8000",
            "[::1]x",
            "localhost:80:80",
            "127.0.0.1:abc",
            "",
        ] {
            assert!(!p.permits(Some(bad)), "{bad}");
        }
        let p = HostPolicy { allowed: vec!["desk.lan".into()] };
        assert!(p.permits(Some("desk.lan:8000")) && p.permits(Some("DESK.lan")));
        assert!(!p.permits(Some("desk.lan.evil")));
    }

    #[test]
    fn local_and_remote() {
        let p = OriginPolicy::local(vec!["https://app.example".into()]);
        assert!(p.permits(None));
        assert!(p.permits(Some("http://localhost:8000")));
        assert!(p.permits(Some("http://127.0.0.1:3000")));
        assert!(p.permits(Some("http://[::1]:8000")));
        assert!(p.permits(Some("https://app.example")));
        assert!(!p.permits(Some("https://evil.example")));
        assert!(!p.permits(Some("http://localhost.evil.example")));
        assert!(!p.permits(Some("null")));
        let r = OriginPolicy::remote(vec!["https://app.example".into()]);
        assert!(!r.permits(Some("http://localhost:8000")));
        assert!(r.permits(Some("https://app.example")));
        assert!(!r.permits(Some("https://app.example.evil")));
    }
}
