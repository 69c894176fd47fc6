//! Plain-text classification rules (`[barcodes]`): order, location, tote, RMA and condition
//! patterns, the command barcodes, and the stand-ins keyboard-mode scanners type for GS.

use std::borrow::Cow;

use regex::Regex;

use super::Kind;

/// How plain-text barcodes are recognised, and how keyboard-mode scanners spell GS.
///
/// [`BarcodeRules::default`] holds the documented defaults of the `[barcodes]` configuration
/// section (DESIGN §5): order `^SO-\d+$`, location `^[A-Z]\d{2}-\d{2}-\d{2}$`, tote
/// `^TOTE-\d+$`, RMA `^RMA-\d+$`, condition `^COND-[A-Z]+$`, commands `CMD-DONE` and
/// `CMD-CANCEL`, and no GS stand-ins.
#[derive(Debug, Clone)]
pub struct BarcodeRules {
    /// Tried in this order; the first that matches wins.
    patterns: Vec<(Regex, Kind)>,
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
        /// Which rule: `order`, `location`, `tote`, `rma` or `condition`.
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
/// Default `rma` pattern (a return's authorisation number).
pub const DEFAULT_RMA: &str = r"^RMA-\d+$";
/// Default `condition` pattern (the state of returned goods: `COND-DAMAGED`).
pub const DEFAULT_CONDITION: &str = r"^COND-[A-Z]+$";
/// Default `done` command.
pub const DEFAULT_DONE: &str = "CMD-DONE";
/// Default `cancel` command.
pub const DEFAULT_CANCEL: &str = "CMD-CANCEL";

/// The plain-text rules as configured: regular expressions (`regex` crate syntax; anchor them
/// with `^…$` to match whole scans) and the exact command strings. An empty string switches
/// that rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPatterns<'a> {
    /// Order number.
    pub order: &'a str,
    /// Location label.
    pub location: &'a str,
    /// Tote label.
    pub tote: &'a str,
    /// Return authorisation (RMA) number.
    pub rma: &'a str,
    /// Condition code of returned goods.
    pub condition: &'a str,
    /// The "done" command, exact text.
    pub done: &'a str,
    /// The "cancel" command, exact text.
    pub cancel: &'a str,
}

impl Default for TextPatterns<'static> {
    fn default() -> Self {
        TextPatterns {
            order: DEFAULT_ORDER,
            location: DEFAULT_LOCATION,
            tote: DEFAULT_TOTE,
            rma: DEFAULT_RMA,
            condition: DEFAULT_CONDITION,
            done: DEFAULT_DONE,
            cancel: DEFAULT_CANCEL,
        }
    }
}

impl BarcodeRules {
    /// Builds the rules. Commands are matched first, then the patterns in the order order,
    /// location, tote, RMA, condition: the first that matches wins.
    pub fn new(p: &TextPatterns) -> Result<Self, BarcodeRulesError> {
        let mut patterns = Vec::new();
        for (rule, pattern, kind) in [
            ("order", p.order, Kind::Order),
            ("location", p.location, Kind::Location),
            ("tote", p.tote, Kind::Tote),
            ("rma", p.rma, Kind::Rma),
            ("condition", p.condition, Kind::Condition),
        ] {
            if pattern.is_empty() {
                continue;
            }
            let re = Regex::new(pattern).map_err(|source| BarcodeRulesError::Pattern {
                rule,
                pattern: pattern.to_owned(),
                source,
            })?;
            patterns.push((re, kind));
        }
        let exact = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(BarcodeRules {
            patterns,
            done: exact(p.done),
            cancel: exact(p.cancel),
            gs_substitutes: Vec::new(),
        })
    }

    /// Adds GS stand-ins: strings a keyboard-mode scanner types in place of the GS separator
    /// (`"^]"`, `"<GS>"`, a configured character such as `"|"`); each is replaced by GS (0x1D)
    /// before decoding. Choose stand-ins that cannot occur in real data.
    pub fn with_gs_substitutes<I, S>(mut self, substitutes: I) -> Result<Self, BarcodeRulesError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let subs: Vec<String> = substitutes.into_iter().map(Into::into).collect();
        if subs.iter().any(String::is_empty) {
            return Err(BarcodeRulesError::EmptySubstitute);
        }
        for sub in subs {
            if !self.gs_substitutes.contains(&sub) {
                self.gs_substitutes.push(sub);
            }
        }
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
        self.patterns
            .iter()
            .find(|(re, _)| re.is_match(text))
            .map(|(_, kind)| *kind)
    }
}

impl Default for BarcodeRules {
    fn default() -> Self {
        // Constants, checked by the decode tests: no outside input reaches this.
        BarcodeRules::new(&TextPatterns::default()).expect("the default patterns are valid")
    }
}
