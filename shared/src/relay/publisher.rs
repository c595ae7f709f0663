//! One bridge publishes a tenant's stream at a time.
//!
//! A second connection with a valid bridge token for the same tenant is either a
//! restarted bridge whose old socket is half-open (it must get through), or a second
//! live publisher: a misconfiguration, or a stolen bridge token (it must not, and the
//! two must not keep displacing each other). So a newcomer takes the tenant over only
//! if the current owner fails a liveness check: the relay asks the owner for a sign of
//! life (`ping`, which the bridge's uplink answers with `pong`; any frame counts) and
//! waits [`LIVENESS_TIMEOUT_MS`]. No sign: the owner is replaced (closed with 1001) and
//! the newcomer owns the stream. A sign: the newcomer is refused with 4503. While one
//! check runs, a further newcomer is refused at once.
//!
//! The native relay and the edge relay both keep one [`Publisher`] per tenant and carry
//! out its [`Decision`]s; neither decides this itself.

/// How long the owner has to show a sign of life before a newcomer takes over.
pub const LIVENESS_TIMEOUT_MS: u64 = 3_000;

/// A connection, as its host numbers it.
pub type Conn = u64;

/// What the host must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `conn` owns the stream now: send it `welcome`.
    Own(Conn),
    /// Ask the owner `conn` for a sign of life (send it `ping`).
    Ping(Conn),
    /// Refuse the newcomer `conn`: close it with 4503, the tenant's bridge is alive.
    Refuse(Conn),
    /// `conn` owned the stream and failed its check: close it with 1001.
    Replace(Conn),
}

#[derive(Clone, Copy, Debug)]
struct Check {
    newcomer: Conn,
    deadline_ms: u64,
}

/// Which connection publishes one tenant's stream. See the module documentation.
#[derive(Debug, Default)]
pub struct Publisher {
    owner: Option<Conn>,
    check: Option<Check>,
}

impl Publisher {
    /// The connection that owns the stream, if any.
    pub fn owner(&self) -> Option<Conn> {
        self.owner
    }

    /// `conn` said a valid `hello` for this tenant.
    pub fn on_hello(&mut self, conn: Conn, now_ms: u64) -> Vec<Decision> {
        match (self.owner, self.check) {
            (None, _) => {
                self.owner = Some(conn);
                vec![Decision::Own(conn)]
            }
            (Some(owner), None) => {
                self.check = Some(Check { newcomer: conn, deadline_ms: now_ms.saturating_add(LIVENESS_TIMEOUT_MS) });
                vec![Decision::Ping(owner)]
            }
            (Some(_), Some(_)) => vec![Decision::Refuse(conn)],
        }
    }

    /// A frame (any) arrived from `conn`.
    pub fn on_sign_of_life(&mut self, conn: Conn) -> Vec<Decision> {
        match self.check {
            Some(c) if self.owner == Some(conn) => {
                self.check = None;
                vec![Decision::Refuse(c.newcomer)]
            }
            _ => vec![],
        }
    }

    /// `conn` is gone. The owner leaving during a check hands the stream over at once.
    pub fn on_closed(&mut self, conn: Conn) -> Vec<Decision> {
        if self.check.is_some_and(|c| c.newcomer == conn) {
            self.check = None;
            return vec![];
        }
        if self.owner != Some(conn) {
            return vec![];
        }
        self.owner = None;
        match self.check.take() {
            Some(c) => {
                self.owner = Some(c.newcomer);
                vec![Decision::Own(c.newcomer)]
            }
            None => vec![],
        }
    }

    /// After a host slept: `conn` had said `hello` before. The first one back owns the
    /// stream; another must wait for the owner's check like a newcomer.
    pub fn restore(&mut self, conn: Conn, now_ms: u64) -> Vec<Decision> {
        match self.owner {
            None => {
                self.owner = Some(conn);
                vec![]
            }
            Some(_) => self.on_hello(conn, now_ms),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: a running check's deadline.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.check.map(|c| c.deadline_ms)
    }

    /// A check whose deadline passed: the silent owner is replaced by the newcomer.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<Decision> {
        match self.check {
            Some(c) if now_ms >= c.deadline_ms => {
                self.check = None;
                let old = self.owner.replace(c.newcomer);
                old.map(Decision::Replace).into_iter().chain([Decision::Own(c.newcomer)]).collect()
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    #[test]
    fn the_first_owns_a_live_owner_keeps_it_a_silent_one_is_replaced() {
        let mut p = Publisher::default();
        assert_eq!(p.on_hello(1, 0), [Own(1)]);
        // a second bridge: the owner is asked, answers, the newcomer is refused
        assert_eq!(p.on_hello(2, 10), [Ping(1)]);
        assert_eq!(p.on_hello(3, 11), [Refuse(3)], "one check at a time");
        assert_eq!(p.poll_timeout(), Some(10 + LIVENESS_TIMEOUT_MS));
        assert_eq!(p.on_sign_of_life(2), [], "only the owner's sign counts");
        assert_eq!(p.on_sign_of_life(1), [Refuse(2)]);
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.handle_timeout(10 + LIVENESS_TIMEOUT_MS), []);
        // a third: the owner stays silent past the deadline
        assert_eq!(p.on_hello(4, 100), [Ping(1)]);
        assert_eq!(p.handle_timeout(100 + LIVENESS_TIMEOUT_MS - 1), []);
        assert_eq!(p.handle_timeout(100 + LIVENESS_TIMEOUT_MS), [Replace(1), Own(4)]);
        assert_eq!(p.owner(), Some(4));
        // the replaced connection's close changes nothing
        assert_eq!(p.on_closed(1), []);
        assert_eq!(p.owner(), Some(4));
    }

    #[test]
    fn an_owner_that_leaves_during_a_check_hands_over_at_once() {
        let mut p = Publisher::default();
        p.on_hello(1, 0);
        assert_eq!(p.on_hello(2, 0), [Ping(1)]);
        assert_eq!(p.on_closed(1), [Own(2)]);
        assert_eq!(p.poll_timeout(), None);
        // a newcomer that leaves during its check ends the check
        assert_eq!(p.on_hello(3, 0), [Ping(2)]);
        assert_eq!(p.on_closed(3), []);
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.owner(), Some(2));
        // the owner leaving with no check leaves the tenant free
        assert_eq!(p.on_closed(2), []);
        assert_eq!(p.on_hello(5, 0), [Own(5)]);
    }

    #[test]
    fn after_a_sleep_the_first_back_owns_and_a_second_is_checked() {
        let mut p = Publisher::default();
        assert_eq!(p.restore(7, 0), []);
        assert_eq!(p.restore(8, 0), [Ping(7)]);
        assert_eq!(p.owner(), Some(7));
    }
}
