//! Configuration: one options struct per command, from a TOML file, the environment
//! and flags.
//!
//! An option is declared once, as a field of its command's struct: its flag, its
//! environment variable, its default and its help come from clap's attributes, its file
//! key is the field's name. [`layers`] loads the struct once (flags over environment over
//! file over defaults), refuses a file key no option has with its file and line, and
//! prints the effective settings (`--print-config`). `resolve` turns the options into
//! the library's runtime config, checking what only makes sense together (a remote
//! endpoint needs a tenant, a relay needs a token file) with typed
//! [`StartError`](crate::start_error::StartError)s.

mod agent;
mod bridge;
mod delivery;
pub mod layers;
mod relay;
mod remote_access;

pub use agent::{AgentOptions, McpOptions, McpTransport};
pub use bridge::BridgeOptions;
pub use delivery::DeliveryOptions;
pub use layers::{load, Layered, Source};
pub use relay::RelayOptions;
pub use remote_access::{JwtOptions, TlsOptions};
