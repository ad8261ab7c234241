//! Field checks shared by the resources. Each names the field it refuses.

use crate::error::{ApiError, Result};

/// Text of `min..=max` characters with no control characters (newlines and tabs allowed when
/// `multiline`).
pub fn text(field: &str, value: &str, min: usize, max: usize, multiline: bool) -> Result<()> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ApiError::validation(
            field,
            if min == 0 {
                format!("at most {max} characters")
            } else {
                format!("{min} to {max} characters")
            },
        ));
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(ApiError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A username: 1 to 40 characters of letters, digits, `_`, `-` and `.`.
pub fn username(value: &str) -> Result<()> {
    let ok = (1..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "username",
            "1 to 40 characters of letters, digits, `_`, `-` and `.`",
        ))
    }
}

/// An email address, checked for shape only.
pub fn email(value: &str) -> Result<()> {
    let ok = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation("email", "not an email address"))
    }
}

/// A resource id with the given prefix (`usr_`, `post_`), to refuse garbage before a lookup.
pub fn id_shape(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 26 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(text("t", "hi", 1, 5, false).is_ok());
        assert!(text("t", "", 1, 5, false).is_err());
        assert!(text("t", "toolong", 1, 5, false).is_err());
        assert!(text("t", "a\nb", 1, 5, false).is_err());
        assert!(text("t", "a\nb", 1, 5, true).is_ok());
        assert!(username("ada.l_1").is_ok());
        assert!(username("ada l").is_err() && username("").is_err());
        assert!(email("ada@example.org").is_ok());
        for bad in [
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "a@b@c.org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
