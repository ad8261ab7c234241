//! `random`: secure random bytes.

use rand::RngCore;

use crate::plugins::bindings::random;
use crate::plugins::state::PluginState;

impl random::Host for PluginState {
    fn fill(&mut self, len: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; len.min(1024) as usize];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    }
}
