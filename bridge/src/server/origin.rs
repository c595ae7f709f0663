//! Which browser pages may open a WebSocket (OWASP: an exact Origin allowlist on every
//! handshake). Non-browser clients send no Origin and are not affected.

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

#[cfg(test)]
mod tests {
    use super::*;

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
