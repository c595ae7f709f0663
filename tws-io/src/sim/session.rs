//! One API connection to the simulated TWS, sans-IO: client bytes in, TWS bytes out.
//!
//! The socket server ([`super::server`]) and the in-memory TWS of the link tests
//! ([`super::memory`]) both drive this, so the simulator answers exactly the same way
//! over a real socket and on a simulated clock.

use std::collections::{HashMap, HashSet};

use super::engine::{Audience, Engine, SimEvent};
use ibws_tws::frame::FrameDecoder;
use ibws_tws::handshake::{parse_client_range, server_hello};
use ibws_tws::message::{decode_request, encode_incoming};
use ibws_tws::text::incoming::Incoming;
use ibws_tws::text::outgoing::Request;
use ibws_tws::types::TwsError;

/// What the brokerage side shares between sessions.
pub struct Desk<'a> {
    pub engine: &'a mut Engine,
    /// Client ids of the sessions connected now (TWS refuses a duplicate with 326).
    pub client_ids: &'a mut HashSet<i64>,
    pub max_version: i32,
    pub connection_time: &'a str,
    /// TWS's "Master API client ID": receives every client's order events.
    pub master_client_id: i64,
    /// The current time, as unix seconds (reqCurrentTime).
    pub now_unix: i64,
}

/// What a session's input caused.
#[derive(Default)]
pub struct Reply {
    /// Bytes for this session's socket.
    pub bytes: Vec<u8>,
    /// Engine events for every session (an order placed by this client, say).
    pub broadcast: Vec<SimEvent>,
    /// Close the socket after writing `bytes`.
    pub close: bool,
}

#[derive(Debug, PartialEq)]
enum Stage {
    /// Waiting for `API\0`.
    Prefix,
    /// Waiting for the version range.
    Range,
    /// Handshake done.
    Api,
}

/// One API connection's state and subscriptions.
pub struct SimSession {
    stage: Stage,
    pending: Vec<u8>,
    dec: FrameDecoder,
    pub version: i32,
    client_id: Option<i64>,
    auto_open: bool,
    /// Accounts followed with reqAccountUpdates.
    accounts: HashSet<String>,
    /// Accounts followed with reqAccountUpdatesMulti, and the request id.
    multi: HashMap<String, i64>,
    /// con_id -> market-data request id.
    market: HashMap<i64, i64>,
}

impl Default for SimSession {
    fn default() -> Self {
        SimSession {
            stage: Stage::Prefix,
            pending: Vec::new(),
            dec: FrameDecoder::new(),
            version: 0,
            client_id: None,
            auto_open: false,
            accounts: HashSet::new(),
            multi: HashMap::new(),
            market: HashMap::new(),
        }
    }
}

fn err(req_id: i64, code: i64, message: String) -> Incoming {
    Incoming::Error(TwsError { req_id, code, message, ..TwsError::default() })
}

impl SimSession {
    pub fn new() -> Self {
        Self::default()
    }

    /// The client id this session started the API with.
    pub fn client_id(&self) -> Option<i64> {
        self.client_id
    }

    /// Bytes from the client.
    pub fn on_bytes(&mut self, bytes: &[u8], desk: &mut Desk) -> Reply {
        let mut reply = Reply::default();
        if self.stage == Stage::Prefix {
            self.pending.extend_from_slice(bytes);
            if self.pending.len() < 4 {
                return reply;
            }
            if &self.pending[..4] != b"API\0" {
                reply.close = true;
                return reply;
            }
            let rest = self.pending.split_off(4);
            self.pending.clear();
            self.dec.extend(&rest);
            self.stage = Stage::Range;
        } else {
            self.dec.extend(bytes);
        }
        loop {
            let frame = match self.dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    reply.close = true;
                    break;
                }
            };
            if self.stage == Stage::Range {
                let Some((lo, hi)) = parse_client_range(&frame) else {
                    reply.close = true;
                    break;
                };
                let version = hi.min(desk.max_version);
                if version < lo {
                    reply.close = true;
                    break;
                }
                self.version = version;
                self.stage = Stage::Api;
                reply.bytes.extend(server_hello(version, desk.connection_time));
                continue;
            }
            let Ok(req) = decode_request(self.version, &frame) else {
                continue;
            };
            let (msgs, close) = self.handle(req, desk, &mut reply.broadcast);
            for m in msgs {
                reply.bytes.extend(encode_incoming(self.version, &m));
            }
            if close {
                reply.close = true;
                break;
            }
        }
        reply
    }

    /// The connection ended: its client id is free again.
    pub fn release(&mut self, client_ids: &mut HashSet<i64>) {
        if let Some(id) = self.client_id.take() {
            client_ids.remove(&id);
        }
    }

    /// Answers one request; `true` means "then close the socket".
    fn handle(&mut self, req: Request, desk: &mut Desk, broadcast: &mut Vec<SimEvent>) -> (Vec<Incoming>, bool) {
        let e = &mut *desk.engine;
        e.set_time(desk.now_unix);
        let mut out = Vec::new();
        match req {
            Request::StartApi { client_id, .. } => {
                if self.client_id.is_some() {
                    return (out, false);
                }
                if !desk.client_ids.insert(client_id) {
                    let msg = format!("Unable to connect as the client id is already in use.  Retry with a unique client id. ({client_id})");
                    return (vec![err(-1, 326, msg)], true);
                }
                self.client_id = Some(client_id);
                out.push(Incoming::ManagedAccounts(e.account_ids()));
                out.push(Incoming::NextValidId(e.next_valid_id()));
                for (code, farm) in [
                    (2104, "Market data farm connection is OK:usfarm"),
                    (2106, "HMDS data farm connection is OK:ushmds"),
                    (2158, "Sec-def data farm connection is OK:secdefnj"),
                ] {
                    out.push(err(-1, code, farm.into()));
                }
            }
            _ if self.client_id.is_none() => {} // TWS ignores requests before startApi
            Request::ReqIds { .. } => out.push(Incoming::NextValidId(e.next_valid_id())),
            Request::ReqCurrentTime => out.push(Incoming::CurrentTime(desk.now_unix)),
            Request::ReqAutoOpenOrders { auto_bind } => {
                if self.client_id == Some(0) {
                    self.auto_open = auto_bind;
                }
            }
            Request::ReqAllOpenOrders => out.extend(e.open_orders(|_| true)),
            Request::ReqOpenOrders => {
                let me = self.client_id.unwrap_or(-1);
                let master = desk.master_client_id;
                out.extend(e.open_orders(|owner| owner == me || me == master));
            }
            Request::ReqCompletedOrders { .. } => out.extend(e.completed_orders()),
            Request::ReqExecutions { req_id, filter } => out.extend(e.executions(req_id, filter.last_n_days)),
            Request::ReqAccountUpdates { subscribe, account } => {
                let account = if account.is_empty() { e.account.clone() } else { account };
                if subscribe {
                    out.extend(e.account_snapshot(&account));
                    self.accounts.insert(account);
                } else {
                    self.accounts.remove(&account);
                }
            }
            Request::ReqAccountUpdatesMulti { req_id, account, .. } => {
                out.extend(e.account_values_multi(req_id, &account));
                self.multi.insert(account, req_id);
            }
            Request::CancelAccountUpdatesMulti { req_id } => self.multi.retain(|_, r| *r != req_id),
            Request::ReqPositions => out.extend(e.positions()),
            Request::ReqPositionsMulti { req_id, account, .. } => out.extend(e.positions_multi(req_id, &account)),
            Request::CancelPositionsMulti { .. } => {}
            Request::ReqMktData { req_id, contract, .. } => {
                let con = if contract.con_id != 0 {
                    e.contract_by_id(contract.con_id)
                } else {
                    e.contract_for(&contract.symbol)
                };
                match con {
                    Some(c) => {
                        self.market.insert(c.con_id, req_id);
                        out.extend(e.quote(c.con_id).into_iter().map(|m| with_req_id(m, req_id)));
                    }
                    None => out.push(err(req_id, 200, "No security definition has been found for the request".into())),
                }
            }
            Request::CancelMktData { req_id } => self.market.retain(|_, r| *r != req_id),
            Request::PlaceOrder { order_id, contract, ticket } if ticket.what_if => {
                // a preview goes to its placer only, and nothing is booked
                out.push(e.what_if(self.client_id.unwrap_or(0), order_id, contract, ticket));
            }
            Request::PlaceOrder { order_id, contract, ticket } => {
                let owner = self.client_id.unwrap_or(0);
                broadcast.extend(e.place(owner, order_id, contract, ticket));
            }
            Request::ReqGlobalCancel => broadcast.extend(e.cancel_all()),
            Request::ReqContractDetails { req_id, contract } => match e.contract_details(&contract) {
                Some(details) => {
                    out.push(Incoming::ContractDetails { req_id, details: Box::new(details) });
                    out.push(Incoming::ContractDetailsEnd { req_id });
                }
                None => out.push(err(req_id, 200, "No security definition has been found for the request".into())),
            },
            Request::ReqMarketRule { market_rule_id } => {
                if let Some(increments) = e.market_rule(market_rule_id) {
                    out.push(Incoming::MarketRule { market_rule_id, increments });
                }
            }
            Request::CancelOrder { order_id } => {
                let owner = self.client_id.unwrap_or(0);
                broadcast.extend(e.cancel_by_id(owner, order_id));
            }
            Request::Other(_) => {}
        }
        (out, false)
    }

    /// What this session receives of an engine event, encoded.
    pub fn route(&self, ev: &SimEvent, master: i64) -> Vec<u8> {
        let Some(me) = self.client_id else {
            return vec![];
        };
        let msgs: Vec<Incoming> = match &ev.audience {
            Audience::All => vec![ev.msg.clone()],
            Audience::Order { owner } => {
                let visible = *owner == me || me == master || (me == 0 && self.auto_open && *owner == 0);
                if visible {
                    vec![ev.msg.clone()]
                } else {
                    vec![]
                }
            }
            Audience::Account(a) => {
                let mut v = Vec::new();
                if self.accounts.contains(a) {
                    v.push(ev.msg.clone());
                }
                if let (Some(req_id), Incoming::AccountValue { key, value, currency, account }) =
                    (self.multi.get(a), &ev.msg)
                {
                    v.push(Incoming::AccountValueMulti {
                        req_id: *req_id,
                        account: account.clone(),
                        model_code: String::new(),
                        key: key.clone(),
                        value: value.clone(),
                        currency: currency.clone(),
                    });
                }
                v
            }
            Audience::Market(con_id) => {
                self.market.get(con_id).map(|r| vec![with_req_id(ev.msg.clone(), *r)]).unwrap_or_default()
            }
        };
        msgs.iter().flat_map(|m| encode_incoming(self.version, m)).collect()
    }
}

/// A market-data message re-addressed to a session's request id.
pub fn with_req_id(m: Incoming, r: i64) -> Incoming {
    match m {
        Incoming::TickPrice { tick_type, price, size, attr_mask, .. } => {
            Incoming::TickPrice { req_id: r, tick_type, price, size, attr_mask }
        }
        Incoming::TickSize { tick_type, size, .. } => Incoming::TickSize { req_id: r, tick_type, size },
        Incoming::MarketDataType { data_type, .. } => Incoming::MarketDataType { req_id: r, data_type },
        other => other,
    }
}

/// Fault injection: the first frame in `bytes` gets a length prefix 3 bytes short, as
/// a buggy proxy or a TWS bug would produce; the reader is out of sync from there on.
pub fn shorten_first_length(bytes: &mut [u8]) {
    if bytes.len() >= 8 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        bytes[..4].copy_from_slice(&len.saturating_sub(3).to_be_bytes());
    }
}
