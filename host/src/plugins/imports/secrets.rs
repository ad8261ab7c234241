//! `secrets`: values a plugin keeps sealed with the server's key ([`crate::sealed`]), bound to
//! the tenant, its environment, the plugin and a label of the plugin's, so a copied tenant file
//! alone reveals none of them and no other plugin, tenant or environment can open them.

use crate::plugins::bindings::secrets;
use crate::plugins::bindings::types::Error;
use crate::plugins::state::{Call, PluginState, Sealing};

/// The most bytes one value may hold: keys and tokens, not documents.
const MAX_PLAINTEXT: usize = 64 * 1024;
/// The longest text `seal` makes (base64 of nonce, value and tag, and a prefix), with room to
/// spare: anything longer is refused before the host decodes it.
const MAX_SEALED: usize = MAX_PLAINTEXT * 4 / 3 + 256;

impl secrets::Host for PluginState {
    fn seal(&mut self, label: String, plaintext: Vec<u8>) -> Result<String, Error> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(Error::Invalid(format!(
                "a sealed value holds at most {MAX_PLAINTEXT} bytes"
            )));
        }
        let (sealing, context) = place(&self.call, &label)?;
        Ok(sealing.key.seal_bytes(&plaintext, &context))
    }

    fn open(&mut self, label: String, sealed: String) -> Result<Vec<u8>, Error> {
        let (sealing, context) = place(&self.call, &label)?;
        if sealed.len() > MAX_SEALED {
            return Err(Error::Invalid(
                "not a sealed value: longer than any `seal` makes".into(),
            ));
        }
        sealing.key.open_bytes(&sealed, &context).map_err(|e| {
            Error::Invalid(format!(
                "{e}: a value opens only for the label, plugin, tenant and environment it was sealed for, with the server secret that sealed it"
            ))
        })
    }
}

/// The key, and the associated data naming where a value belongs.
fn place<'c>(call: &'c Call, label: &str) -> Result<(&'c Sealing, String), Error> {
    let ok = (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.:".contains(&b));
    if !ok {
        return Err(Error::Invalid(
            "a secret's label is 1 to 64 of a-z, 0-9, `_`, `-`, `.` and `:`".into(),
        ));
    }
    let sealing = call.sealing.as_ref().ok_or_else(|| {
        Error::Denied(
            "secrets are sealed in a route, event or timer call, not while loading or migrating"
                .into(),
        )
    })?;
    let context = format!("plugin:{}/{}/{label}", sealing.place, call.plugin);
    Ok((sealing, context))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sealed::ServerKey;

    fn call(plugin: &str, place: &str, key: &Arc<ServerKey>) -> Call {
        let mut call = Call::loading(plugin);
        call.sealing = Some(Sealing {
            key: key.clone(),
            place: place.into(),
        });
        call
    }

    #[test]
    fn a_value_opens_only_where_it_was_sealed() {
        let key = Arc::new(ServerKey::ephemeral());
        let here = call("learn", "t1/live", &key);
        let (s, context) = place(&here, "issuer").unwrap();
        let sealed = s.key.seal_bytes(b"seed", &context);
        let opens = |call: &Call, label: &str| {
            let (s, context) = place(call, label).unwrap();
            s.key.open_bytes(&sealed, &context).ok()
        };
        assert_eq!(opens(&here, "issuer").as_deref(), Some(&b"seed"[..]));
        assert_eq!(opens(&here, "other"), None);
        assert_eq!(opens(&call("hostile", "t1/live", &key), "issuer"), None);
        assert_eq!(opens(&call("learn", "t2/live", &key), "issuer"), None);
        assert_eq!(opens(&call("learn", "t1/test", &key), "issuer"), None);
        let other_server = Arc::new(ServerKey::ephemeral());
        assert_eq!(
            opens(&call("learn", "t1/live", &other_server), "issuer"),
            None
        );
    }

    #[test]
    fn the_largest_value_opens_and_a_longer_text_is_refused_unread() {
        let key = Arc::new(ServerKey::ephemeral());
        let mut state = PluginState::new(call("learn", "t1/live", &key), &Default::default());
        use secrets::Host;
        let big = vec![7u8; MAX_PLAINTEXT];
        let sealed = state.seal("big".into(), big.clone()).unwrap();
        assert!(sealed.len() <= MAX_SEALED);
        assert_eq!(state.open("big".into(), sealed).unwrap(), big);
        assert!(matches!(
            state.seal("big".into(), vec![0; MAX_PLAINTEXT + 1]),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            state.open(
                "big".into(),
                "sealed.v1.".to_owned() + &"A".repeat(MAX_SEALED)
            ),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn labels_are_checked_and_loading_cannot_seal() {
        let key = Arc::new(ServerKey::ephemeral());
        let here = call("learn", "t1/live", &key);
        for bad in ["", "Issuer", "a/b", "x y", &"a".repeat(65)] {
            assert!(matches!(place(&here, bad), Err(Error::Invalid(_))), "{bad}");
        }
        assert!(matches!(
            place(&Call::loading("learn"), "issuer"),
            Err(Error::Denied(_))
        ));
    }
}
