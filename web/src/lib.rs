//! The browser client for ibws.
//!
//! Not built yet (issue 7). The typed frames it will use live in
//! `ibws_shared::protocol` and are re-exported here.

pub use ibws_shared::protocol;
