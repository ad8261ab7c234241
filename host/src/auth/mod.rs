//! API keys and scopes (and SCIM tokens, a credential of their own): what a key is, how it is minted and stored, how a presented key is checked.
//! The HTTP side (reading headers, answering 401/403) is in [`crate::http::gate`].

pub mod keys;
pub mod login_throttle;
pub mod scim_tokens;
pub mod scopes;

pub use keys::{ApiKey, KeyKind, NewKey, Presented};
