//! A secret value (a token, a key, a password): kept out of `Debug` output,
//! so a configuration or a client printed whole shows `******`, never it.
//! Reading it is explicit (`expose`), which makes every use easy to find.

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "******" })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_shows_the_value() {
        let s = super::Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "******");
        assert_eq!(format!("{:?}", Some(("user", s.clone()))), "Some((\"user\", ******))");
        assert_eq!(s.expose(), "hunter2");
    }
}
