//! From TWS events to ibws notifications.
//!
//! The data path is one-way: [`ibws_tws_io::driver`] yields decoded messages,
//! [`OrderBook`] and [`AccountBook`] fold them into state and report real changes,
//! [`Notifier`] turns changes into the seed's six event types, and the hub fans them
//! out. Nothing here polls: a frame from TWS becomes a notification immediately.

mod account_book;
pub mod errors;
mod market;
mod notifier;
mod order_book;

pub use account_book::AccountBook;
pub use market::MarketConflator;
pub use notifier::{source_of, AgentRules, Notifier, NotifierConfig, Placed};
pub use order_book::{OrderBook, OrderChange};
