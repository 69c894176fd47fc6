//! Pure retry decisions: how an HTTP answer is classified and how a `Retry-After` header is
//! read (how long to back off otherwise is [`crate::backoff`]'s). No I/O here, so every rule
//! has a unit test.

use std::time::{Duration, SystemTime};

/// Longest `Retry-After` honoured; larger (absurd) values are clamped to this.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// What to do after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver has the events.
    Delivered,
    /// Try again later (same events, same key).
    Retry {
        /// Why, for logs, metrics and the event's last error.
        reason: &'static str,
        /// The receiver's `Retry-After`, replacing our own backoff when present.
        retry_after: Option<Duration>,
    },
    /// The sink is misconfigured (credentials, URL): pause it and probe slowly; the events
    /// stay pending.
    Pause {
        /// Why.
        reason: &'static str,
    },
    /// The receiver refuses the payload: split a batch, dead-letter a single event.
    Refused {
        /// Why.
        reason: &'static str,
    },
}

/// Classifies an HTTP answer (DESIGN §4). A 2xx that carries an HTML page is not an
/// acknowledgement: that is what a login portal or a proxy error page looks like.
pub fn classify(status: u16, content_type: Option<&str>, retry_after: Option<Duration>) -> Verdict {
    let html = content_type
        .map(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/html")
        })
        .unwrap_or(false);
    match status {
        200..=299 if html => Verdict::Retry {
            reason: "html_answer",
            retry_after,
        },
        200..=299 => Verdict::Delivered,
        300..=399 => Verdict::Pause { reason: "redirect" },
        401 => Verdict::Pause {
            reason: "unauthorized",
        },
        403 => Verdict::Pause {
            reason: "forbidden",
        },
        404 => Verdict::Pause {
            reason: "not_found",
        },
        400 | 413 | 422 => Verdict::Refused {
            reason: match status {
                400 => "bad_request",
                413 => "too_large",
                _ => "unprocessable",
            },
        },
        408 => Verdict::Retry {
            reason: "request_timeout",
            retry_after,
        },
        429 => Verdict::Retry {
            reason: "rate_limited",
            retry_after,
        },
        500..=599 => Verdict::Retry {
            reason: "server_error",
            retry_after,
        },
        // Other 4xx (405, 409, 410, ...): nothing in the payload can be blamed for sure, and
        // dropping business events is worse than retrying; retry with backoff.
        _ => Verdict::Retry {
            reason: "unexpected_status",
            retry_after,
        },
    }
}

/// Reads `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Garbage counts as
/// absent, negative or past values as zero, and anything beyond an hour is clamped.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = value.parse().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP));
    }
    if let Some(rest) = value.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Duration::ZERO);
        }
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_CAP),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_design() {
        assert_eq!(
            classify(200, Some("application/json"), None),
            Verdict::Delivered
        );
        assert_eq!(classify(204, None, None), Verdict::Delivered);
        assert!(matches!(
            classify(200, Some("text/html; charset=utf-8"), None),
            Verdict::Retry {
                reason: "html_answer",
                ..
            }
        ));
        assert!(matches!(
            classify(500, Some("text/html"), None),
            Verdict::Retry { .. }
        ));
        assert!(matches!(classify(503, None, None), Verdict::Retry { .. }));
        assert!(matches!(classify(408, None, None), Verdict::Retry { .. }));
        let ra = Some(Duration::from_secs(7));
        assert_eq!(
            classify(429, None, ra),
            Verdict::Retry {
                reason: "rate_limited",
                retry_after: ra
            }
        );
        for s in [401, 403, 404, 302] {
            assert!(
                matches!(classify(s, None, None), Verdict::Pause { .. }),
                "{s}"
            );
        }
        for s in [400, 413, 422] {
            assert!(
                matches!(classify(s, None, None), Verdict::Refused { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1000000000", now), Some(RETRY_AFTER_CAP));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(RETRY_AFTER_CAP)
        );
        assert_eq!(parse_retry_after("-5", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        // 2015-10-21T07:28:00Z is 1445412480; ten seconds later:
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }
}
