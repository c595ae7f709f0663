//! What a client sends: transport events (pong, binary, oversized frames) and the
//! text commands, dispatched to the handler of each (`commands/`).

mod auth;
mod get_orders;
mod resume;
mod subscribe;
mod unsubscribe;

use super::*;

impl Hub {
    /// The client sent a pong or any other sign of life below the JSON layer.
    pub fn on_pong(&mut self, id: ConnId, now: Now) {
        if let Some(s) = self.clients.get_mut(&id) {
            s.last_seen_ms = now.mono_ms;
        }
    }

    /// The client sent a binary frame: not part of the protocol.
    pub fn on_binary(&mut self, id: ConnId, _len: usize, now: Now) {
        self.close(id, CloseCode::UnsupportedData, now);
    }

    /// The transport refused a frame over its size limit.
    pub fn on_oversized(&mut self, id: ConnId, now: Now) {
        self.close(id, CloseCode::MessageTooBig, now);
    }

    /// The client sent a text frame.
    pub fn on_text(&mut self, id: ConnId, text: &str, now: Now) {
        self.see(now);
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        s.last_seen_ms = now.mono_ms;
        if text.len() > self.cfg.max_frame_bytes {
            self.close(id, CloseCode::MessageTooBig, now);
            return;
        }
        if !s.bucket.take(now.mono_ms) {
            self.close(id, CloseCode::RateLimited, now);
            return;
        }
        if !s.ready {
            // not yet admitted: only a first `auth` gets a client in
            return self.first_message(id, text, now);
        }
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => return self.reply_error(id, e.to_string(), Some("BAD_REQUEST"), now),
        };
        match msg {
            ClientMessage::Auth { token } => {
                if let Some(s) = self.clients.get_mut(&id) {
                    s.aware = true;
                }
                self.handle_auth(id, &token, now)
            }
            ClientMessage::Subscribe { message_types, epoch, since } => {
                self.handle_subscribe(id, &message_types, now);
                if let (Some(epoch), Some(since)) = (epoch, since) {
                    if let Some(s) = self.clients.get_mut(&id) {
                        s.aware = true;
                    }
                    self.handle_resume(id, &epoch, since, now);
                }
            }
            ClientMessage::Unsubscribe { message_types } => self.handle_unsubscribe(id, &message_types, now),
            ClientMessage::Ping {} => {
                let f = ServerFrame::Pong(Pong { timestamp: self.stamp(now) });
                self.reply(id, &f, now);
            }
            ClientMessage::GetOrders {} => self.handle_get_orders(id, now),
            ClientMessage::Resume { epoch, since } => {
                if let Some(s) = self.clients.get_mut(&id) {
                    s.aware = true;
                }
                self.handle_resume(id, &epoch, since, now)
            }
        }
    }

    /// The first message of a client that must authenticate: the relay core's verdict
    /// ([`crate::relay::first_auth::verdict`]), then admission or the refusal.
    pub(in crate::hub) fn first_message(&mut self, id: ConnId, text: &str, now: Now) {
        let first = crate::relay::first_auth::First::Text(text);
        let verdict = match self.verifier.clone() {
            Some(v) => crate::relay::first_auth::verdict(first, v.as_ref(), now.unix_secs()),
            None => Err(CloseCode::AuthRequired),
        };
        match verdict {
            Ok(claims) => {
                if let Some(s) = self.clients.get_mut(&id) {
                    s.aware = true;
                }
                self.admit(id, claims, now)
            }
            Err(code) => self.close(id, code, now),
        }
    }
}
