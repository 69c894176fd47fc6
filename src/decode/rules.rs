//! Plain-text classification rules (`[barcodes]`): order, location and tote patterns, the
//! command barcodes, and the stand-ins keyboard-mode scanners type for GS.

use std::borrow::Cow;

use regex::Regex;

use super::Kind;

/// How plain-text barcodes are recognised, and how keyboard-mode scanners spell GS.
///
/// [`BarcodeRules::default`] holds the documented defaults of the `[barcodes]` configuration
/// section (DESIGN §5): order `^SO-\d+$`, location `^[A-Z]\d{2}-\d{2}-\d{2}$`, tote
/// `^TOTE-\d+$`, commands `CMD-DONE` and `CMD-CANCEL`, and no GS stand-ins.
#[derive(Debug, Clone)]
pub struct BarcodeRules {
    order: Option<Regex>,
    location: Option<Regex>,
    tote: Option<Regex>,
    done: Option<String>,
    cancel: Option<String>,
    gs_substitutes: Vec<String>,
}

/// A [`BarcodeRules`] that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BarcodeRulesError {
    /// A pattern is not a valid regular expression.
    #[error("barcodes.{rule}: invalid pattern {pattern:?}")]
    Pattern {
        /// Which rule: `order`, `location` or `tote`.
        rule: &'static str,
        /// The pattern given.
        pattern: String,
        /// Why the regex crate refused it.
        #[source]
        source: regex::Error,
    },
    /// An empty GS stand-in, which would match everywhere.
    #[error("barcodes: a GS stand-in must not be empty")]
    EmptySubstitute,
}

/// Default `order` pattern.
pub const DEFAULT_ORDER: &str = r"^SO-\d+$";
/// Default `location` pattern.
pub const DEFAULT_LOCATION: &str = r"^[A-Z]\d{2}-\d{2}-\d{2}$";
/// Default `tote` pattern.
pub const DEFAULT_TOTE: &str = r"^TOTE-\d+$";
/// Default `done` command.
pub const DEFAULT_DONE: &str = "CMD-DONE";
/// Default `cancel` command.
pub const DEFAULT_CANCEL: &str = "CMD-CANCEL";

impl BarcodeRules {
    /// Builds the rules from the configured patterns (regular expressions, `regex` crate
    /// syntax; anchor them with `^…$` to match whole scans) and the exact command strings.
    /// An empty string switches that rule off.
    pub fn new(
        order: &str,
        location: &str,
        tote: &str,
        done: &str,
        cancel: &str,
    ) -> Result<Self, BarcodeRulesError> {
        fn compile(rule: &'static str, pattern: &str) -> Result<Option<Regex>, BarcodeRulesError> {
            if pattern.is_empty() {
                return Ok(None);
            }
            Regex::new(pattern)
                .map(Some)
                .map_err(|source| BarcodeRulesError::Pattern {
                    rule,
                    pattern: pattern.to_owned(),
                    source,
                })
        }
        let exact = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(BarcodeRules {
            order: compile("order", order)?,
            location: compile("location", location)?,
            tote: compile("tote", tote)?,
            done: exact(done),
            cancel: exact(cancel),
            gs_substitutes: Vec::new(),
        })
    }

    /// Sets the GS stand-ins: strings a keyboard-mode scanner types in place of the GS
    /// separator (`"^]"`, `"<GS>"`, a configured character such as `"|"`); each is replaced
    /// by GS (0x1D) before decoding. Choose stand-ins that cannot occur in real data.
    pub fn with_gs_substitutes<I, S>(mut self, substitutes: I) -> Result<Self, BarcodeRulesError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let subs: Vec<String> = substitutes.into_iter().map(Into::into).collect();
        if subs.iter().any(String::is_empty) {
            return Err(BarcodeRulesError::EmptySubstitute);
        }
        self.gs_substitutes = subs;
        Ok(self)
    }

    /// Replaces every GS stand-in by GS; borrows when there is none.
    pub(super) fn substitute_gs<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for sub in &self.gs_substitutes {
            if out.contains(sub.as_str()) {
                out = Cow::Owned(out.replace(sub.as_str(), "\u{1d}"));
            }
        }
        out
    }

    /// The plain-text kind of `text`: commands first (exact match), then the patterns.
    pub(super) fn classify(&self, text: &str) -> Option<Kind> {
        if self.done.as_deref() == Some(text) {
            return Some(Kind::Done);
        }
        if self.cancel.as_deref() == Some(text) {
            return Some(Kind::Cancel);
        }
        [
            (&self.order, Kind::Order),
            (&self.location, Kind::Location),
            (&self.tote, Kind::Tote),
        ]
        .into_iter()
        .find(|(re, _)| re.as_ref().is_some_and(|re| re.is_match(text)))
        .map(|(_, kind)| kind)
    }
}

impl Default for BarcodeRules {
    fn default() -> Self {
        BarcodeRules {
            order: Regex::new(DEFAULT_ORDER).ok(),
            location: Regex::new(DEFAULT_LOCATION).ok(),
            tote: Regex::new(DEFAULT_TOTE).ok(),
            done: Some(DEFAULT_DONE.to_owned()),
            cancel: Some(DEFAULT_CANCEL.to_owned()),
            gs_substitutes: Vec::new(),
        }
    }
}
