//! `auth` after admission: a token refresh (same identity, new expiry, possibly a
//! narrower scope), or claims recorded on an open endpoint.

use crate::hub::*;

impl Hub {
    pub(in crate::hub) fn handle_auth(&mut self, id: ConnId, token: &str, now: Now) {
        let Some(verifier) = self.verifier.clone() else {
            // Endpoints without auth have nothing to check a token against.
            self.reply_error(id, "auth is not enabled on this endpoint".into(), Some("AUTH_DISABLED"), now);
            return;
        };
        // a later `auth` on an admitted session (a first one is `first_message`'s)
        let claims = match verifier.verify(token, now.unix_secs()) {
            Ok(c) => c,
            Err(e) => return self.close(id, e.close_code(), now),
        };
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        match &s.claims {
            None if self.cfg.require_auth => self.admit(id, claims, now),
            None => {
                // Auth on an open endpoint: record the claims so scopes apply.
                s.claims = Some(claims);
                self.deadline_moved = true;
            }
            Some(old) => {
                // Refresh: same identity, new expiry and possibly narrower scope.
                if old.sub != claims.sub || old.tenant != claims.tenant || claims.role != Role::Client {
                    return self.close(id, CloseCode::Forbidden, now);
                }
                let allowed: u8 =
                    MessageType::ALL.into_iter().filter(|t| claims.allows_type(*t)).fold(0, |m, t| m | t.bit());
                s.subs &= allowed;
                s.claims = Some(claims);
                self.deadline_moved = true;
            }
        }
    }
}
