//! The capabilities beyond contract 1.0 that a plugin declares and the host grants it, like
//! Spin's per-component grants: an import of an undeclared one refuses the component at load, and
//! a call to one is `denied` (a 1.0 component declares none).

use serde::{Serialize, Serializer};

use crate::plugins::bindings::types::{Capability as Wit, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Search,
    Timers,
    Files,
    Mail,
    Surfaces,
    Ai,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::Search,
        Capability::Timers,
        Capability::Files,
        Capability::Mail,
        Capability::Surfaces,
        Capability::Ai,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::Search => "search",
            Capability::Timers => "timers",
            Capability::Files => "files",
            Capability::Mail => "mail",
            Capability::Surfaces => "surfaces",
            Capability::Ai => "ai",
        }
    }

    /// The WIT interface that brings it; `search` is SQL through `db`.
    fn interface(self) -> Option<&'static str> {
        match self {
            Capability::Search => None,
            Capability::Timers => Some("mobieus:plugin/timers"),
            Capability::Files => Some("mobieus:plugin/files"),
            Capability::Mail => Some("mobieus:plugin/mail"),
            Capability::Surfaces => Some("mobieus:plugin/surfaces"),
            Capability::Ai => Some("mobieus:plugin/ai"),
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl From<Wit> for Capability {
    fn from(c: Wit) -> Self {
        match c {
            Wit::Search => Capability::Search,
            Wit::Timers => Capability::Timers,
            Wit::Files => Capability::Files,
            Wit::Mail => Capability::Mail,
            Wit::Surfaces => Capability::Surfaces,
            Wit::Ai => Capability::Ai,
        }
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities(u8);

impl Capabilities {
    pub const NONE: Capabilities = Capabilities(0);

    pub fn contains(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// `denied` unless `c` is in the set.
    pub fn require(self, c: Capability) -> Result<(), Error> {
        if self.contains(c) {
            return Ok(());
        }
        Err(Error::Denied(format!(
            "this plugin does not declare the `{}` capability in its manifest",
            c.name()
        )))
    }

    /// Refuses a component that imports the interface of a capability it does not declare (an
    /// import is `name@version`).
    pub fn check_imports<'a>(
        self,
        imports: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), String> {
        for import in imports {
            let interface = import.split('@').next().unwrap_or(import);
            if let Some(c) = Capability::ALL
                .into_iter()
                .find(|c| c.interface() == Some(interface))
                && !self.contains(c)
            {
                return Err(format!(
                    "it imports `{interface}` but does not declare the `{}` capability in its manifest",
                    c.name()
                ));
            }
        }
        Ok(())
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Capabilities(iter.into_iter().fold(0, |bits, c| bits | c.bit()))
    }
}

impl Serialize for Capabilities {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Capability::name))
    }
}

impl std::fmt::Display for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Capability::name).collect();
        if names.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_imports_pass_and_undeclared_ones_are_refused() {
        let timers: Capabilities = [Capability::Timers].into_iter().collect();
        let imports = ["mobieus:plugin/db@1.1.0", "mobieus:plugin/timers@1.1.0"];
        assert!(timers.check_imports(imports).is_ok());
        let why = Capabilities::NONE.check_imports(imports).unwrap_err();
        assert!(why.contains("`timers` capability"), "{why}");
        assert!(timers.require(Capability::Files).is_err());
        assert_eq!(timers.to_string(), "timers");
        assert_eq!(
            serde_json::to_value(timers).unwrap(),
            serde_json::json!(["timers"])
        );
    }
}
