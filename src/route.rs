//! Routing: which sinks an event type goes to, by the `events` globs of each sink.
//!
//! A glob's only wildcard is `*`, which matches any text, dots included (`*.exception` matches
//! `pick.exception`; `shipment.*` matches `shipment.loaded`). Everything else matches itself.

use std::sync::Arc;

/// The event types one sink receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Sink name.
    pub sink: Arc<str>,
    globs: Vec<String>,
}

impl Route {
    /// A route for `sink` accepting any of `globs`.
    pub fn new(sink: &str, globs: &[String]) -> Self {
        Self {
            sink: Arc::from(sink),
            globs: globs.to_vec(),
        }
    }

    /// Whether events of this type go to this sink.
    pub fn accepts(&self, event_type: &str) -> bool {
        self.globs.iter().any(|g| glob_match(g, event_type))
    }
}

/// `*`-only glob match, iterative with single backtracking point (linear in practice).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_any_text_including_dots() {
        assert!(glob_match("*", "pick.confirmed"));
        assert!(glob_match("pick.*", "pick.confirmed"));
        assert!(glob_match("*.exception", "pack.exception"));
        assert!(glob_match("dock.*", "dock.door.opened"));
        assert!(glob_match("*door*", "dock.door.closed"));
        assert!(glob_match("shipment.loaded", "shipment.loaded"));
    }

    #[test]
    fn non_matches() {
        assert!(!glob_match("pick.*", "pack.completed"));
        assert!(!glob_match("pick.*", "pick"));
        assert!(!glob_match("*.exception", "pick.exceptional"));
        assert!(!glob_match("shipment.loaded", "shipment.loaded2"));
        assert!(!glob_match("", "x"));
    }

    #[test]
    fn route_accepts_any_glob() {
        let r = Route::new("crm", &["shipment.*".into(), "*.exception".into()]);
        assert!(r.accepts("shipment.dispatched"));
        assert!(r.accepts("pick.exception"));
        assert!(!r.accepts("pick.confirmed"));
    }
}
