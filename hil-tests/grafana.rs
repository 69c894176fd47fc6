//! The Grafana dashboard the package ships (`packaging/grafana/dockgate.json`) asks only for
//! what a running dockgate exposes: every PromQL query of the dashboard (panel targets and
//! template variables) is parsed, and each metric it reads, each label it selects or groups
//! by, and the type behind each `rate()` or `histogram_quantile()` is checked against the
//! `/metrics` of a real daemon that has ingested events, read a serial scanner, quarantined
//! garbage and retried a failed delivery.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::Matchers;
use promql_parser::parser::{self, Expr, LabelModifier};
use regex::Regex;
use serde_json::{json, Value};

use crate::harness::*;

const DASHBOARD: &str = include_str!("../packaging/grafana/dockgate.json");

/// Labels Prometheus adds to every series it scrapes: they are never in the exposition.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

/// What the dashboard is for: it must keep reading these.
const PROMISED: [&str; 8] = [
    "dockgate_oldest_pending_age_seconds",
    "dockgate_backlog_events",
    "dockgate_delivery_failures_total",
    "dockgate_device_up",
    "dockgate_buffer_bytes",
    "dockgate_buffer_max_bytes",
    "dockgate_config_version",
    "dockgate_events_ingested_total",
];

/// Functions whose argument must be a counter (or a histogram's series, which are counters).
const COUNTER_FUNCTIONS: [&str; 4] = ["rate", "irate", "increase", "resets"];

/// A `/metrics` page: label names seen per sample name, and `# TYPE` per family.
struct Exposition {
    labels: BTreeMap<String, BTreeSet<String>>,
    types: BTreeMap<String, String>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let pair = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*""#).unwrap();
        let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some((name, kind)) = rest.split_once(' ') {
                    types.insert(name.to_owned(), kind.trim().to_owned());
                }
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let names = labels.entry(line[..end].to_owned()).or_default();
            if let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) {
                for c in pair.captures_iter(&line[open..close]) {
                    names.insert(c[1].to_owned());
                }
            }
        }
        Exposition { labels, types }
    }

    /// The family a sample name belongs to, and its type: `x_bucket`, `x_sum` and `x_count`
    /// are series of the histogram (or summary) `x`, as Prometheus reads them.
    fn family(&self, sample: &str) -> Option<(String, String)> {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = sample.strip_suffix(suffix) {
                match self.types.get(base).map(String::as_str) {
                    Some("histogram") => return Some((base.to_owned(), "histogram".to_owned())),
                    Some("summary") if suffix != "_bucket" => {
                        return Some((base.to_owned(), "summary".to_owned()))
                    }
                    _ => {}
                }
            }
        }
        let kind = self.types.get(sample)?;
        Some((sample.to_owned(), kind.clone()))
    }
}

/// What one query reads, collected from its syntax tree.
#[derive(Default)]
struct Uses {
    /// (metric, label names of its matchers)
    selectors: Vec<(String, Vec<String>)>,
    /// (`by`/`on`/`group_left` labels, metrics of the subexpression they group)
    groupings: Vec<(Vec<String>, BTreeSet<String>)>,
    /// (function, metrics of its argument)
    calls: Vec<(String, BTreeSet<String>)>,
}

fn selector(name: &Option<String>, matchers: &Matchers, uses: &mut Uses) -> BTreeSet<String> {
    let all: Vec<_> = matchers
        .matchers
        .iter()
        .chain(matchers.or_matchers.iter().flatten())
        .collect();
    let metric = name.clone().or_else(|| {
        all.iter()
            .find(|m| m.name == "__name__")
            .map(|m| m.value.clone())
    });
    let Some(metric) = metric else {
        panic!("a selector without a metric name: {matchers}");
    };
    let labels = all
        .iter()
        .filter(|m| m.name != "__name__")
        .map(|m| m.name.clone())
        .collect();
    uses.selectors.push((metric.clone(), labels));
    BTreeSet::from([metric])
}

fn label_list(modifier: &LabelModifier) -> Vec<String> {
    modifier.labels().labels.clone()
}

/// Walks `expr`, noting what it reads; returns the metrics of the subtree.
fn walk(expr: &Expr, uses: &mut Uses) -> BTreeSet<String> {
    match expr {
        Expr::VectorSelector(vs) => selector(&vs.name, &vs.matchers, uses),
        Expr::MatrixSelector(ms) => selector(&ms.vs.name, &ms.vs.matchers, uses),
        Expr::Aggregate(a) => {
            let mut metrics = walk(&a.expr, uses);
            if let Some(param) = &a.param {
                metrics.extend(walk(param, uses));
            }
            if let Some(modifier) = &a.modifier {
                uses.groupings.push((label_list(modifier), metrics.clone()));
            }
            metrics
        }
        Expr::Binary(b) => {
            let mut metrics = walk(&b.lhs, uses);
            metrics.extend(walk(&b.rhs, uses));
            if let Some(modifier) = &b.modifier {
                let mut labels = modifier
                    .matching
                    .as_ref()
                    .map(label_list)
                    .unwrap_or_default();
                if let Some(extra) = modifier.card.labels() {
                    labels.extend(extra.labels.iter().cloned());
                }
                uses.groupings.push((labels, metrics.clone()));
            }
            metrics
        }
        Expr::Call(c) => {
            let mut metrics = BTreeSet::new();
            for arg in &c.args.args {
                metrics.extend(walk(arg, uses));
            }
            uses.calls.push((c.func.name.to_string(), metrics.clone()));
            metrics
        }
        Expr::Paren(p) => walk(&p.expr, uses),
        Expr::Unary(u) => walk(&u.expr, uses),
        Expr::Subquery(s) => walk(&s.expr, uses),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => BTreeSet::new(),
    }
}

/// Grafana's variables put in as a Prometheus would see them: the interval ones as a
/// duration, every other (`$sink`, `${instance}`) as a value inside a label matcher.
fn substitute(query: &str) -> String {
    let intervals = Regex::new(r"\$\{?__(rate_interval|interval|range)\}?").unwrap();
    let others = Regex::new(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?").unwrap();
    others
        .replace_all(&intervals.replace_all(query, "5m"), "x")
        .into_owned()
}

/// Every `expr` anywhere in the dashboard (panels, panels inside rows), with its panel title.
fn exprs(v: &Value, panel: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            let title = o.get("title").and_then(Value::as_str).unwrap_or(panel);
            if let Some(Value::String(e)) = o.get("expr") {
                out.push((title.to_owned(), e.clone()));
            }
            for child in o.values() {
                exprs(child, title, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| exprs(c, panel, out)),
        _ => {}
    }
}

/// The queries of the dashboard's template variables, as PromQL selectors with the label
/// whose values they list (`label_values(selector, label)`).
fn variable_queries(dash: &Value) -> Vec<(String, String, String)> {
    let label_values =
        Regex::new(r"^\s*label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$").unwrap();
    let mut out = Vec::new();
    for var in dash["templating"]["list"]
        .as_array()
        .expect("templating.list")
    {
        if var["type"] != "query" {
            continue;
        }
        let name = str_field(var, "name");
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap_or_else(|| panic!("variable {name} has no query: {var}"));
        let c = label_values.captures(query).unwrap_or_else(|| {
            panic!("variable {name}: not label_values(selector, label): {query}")
        });
        out.push((format!("variable {name}"), c[1].to_owned(), c[2].to_owned()));
    }
    out
}

/// Problems of one query against the exposition; empty when it reads only what is there.
fn check_query(
    what: &str,
    query: &str,
    expo: &Exposition,
    used: &mut BTreeSet<String>,
) -> Vec<String> {
    let expr = match parser::parse(&substitute(query)) {
        Ok(e) => e,
        Err(e) => return vec![format!("{what}: not PromQL ({e}): {query}")],
    };
    let mut uses = Uses::default();
    walk(&expr, &mut uses);
    let mut problems = Vec::new();
    let has = |metrics: &BTreeSet<String>, label: &str| {
        TARGET_LABELS.contains(&label)
            || metrics
                .iter()
                .any(|m| expo.labels.get(m).is_some_and(|l| l.contains(label)))
    };
    for (metric, labels) in &uses.selectors {
        let Some(seen) = expo.labels.get(metric) else {
            problems.push(format!("{what}: {metric} is not in /metrics"));
            continue;
        };
        match expo.family(metric) {
            Some((family, _)) => {
                used.insert(family);
            }
            None => problems.push(format!("{what}: {metric} has no # TYPE in /metrics")),
        }
        for label in labels {
            if !TARGET_LABELS.contains(&label.as_str()) && !seen.contains(label) {
                problems.push(format!(
                    "{what}: {metric} has no label {label:?} (it has {seen:?})"
                ));
            }
        }
    }
    for (labels, metrics) in &uses.groupings {
        for label in labels.iter().filter(|l| !has(metrics, l)) {
            problems.push(format!(
                "{what}: grouped by {label:?}, which none of {metrics:?} has"
            ));
        }
    }
    for (function, metrics) in &uses.calls {
        for metric in metrics {
            let kind = expo.family(metric).map(|(_, k)| k).unwrap_or_default();
            let counter = kind == "counter" || (kind == "histogram" && metric.ends_with("_bucket"));
            if COUNTER_FUNCTIONS.contains(&function.as_str()) && !counter {
                problems.push(format!(
                    "{what}: {function}() of {metric}, a {kind:?}, not a counter"
                ));
            }
            if function == "histogram_quantile"
                && !(kind == "histogram" && metric.ends_with("_bucket"))
            {
                problems.push(format!(
                    "{what}: histogram_quantile() of {metric}, not a histogram's buckets"
                ));
            }
        }
    }
    problems
}

/// The dashboard's own shape: a Prometheus datasource variable that every query goes
/// through, and every panel with queries.
fn check_shape(dash: &Value) {
    let vars = dash["templating"]["list"]
        .as_array()
        .expect("templating.list");
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["name"] == "datasource"
            && v["query"] == "prometheus"),
        "a Prometheus datasource variable named datasource"
    );
    let mut ids = BTreeSet::new();
    let mut panels: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    let nested: Vec<&Value> = panels
        .iter()
        .filter_map(|p| p["panels"].as_array())
        .flatten()
        .collect();
    panels.extend(nested);
    for p in panels {
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel without id: {p}"));
        assert!(ids.insert(id), "panel id {id} used twice");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {}",
            p["title"]
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {} has no targets", p["title"]));
        assert!(!targets.is_empty(), "panel {} has no queries", p["title"]);
        for t in targets {
            assert!(
                t["expr"].is_string(),
                "panel {}: a target without expr: {t}",
                p["title"]
            );
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "panel {}: {t}",
                p["title"]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_queries_read_only_what_the_daemon_exposes() {
    const DEVICE: &str = "pick-01";
    let dash: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    check_shape(&dash);

    let erp = StandIn::start("erp", Mode::Ok).await;
    erp.once(Mode::Status(500));
    let mut link = SerialLink::start().await;
    let device = format!(
        "[devices.{DEVICE}]\nsource = \"serial\"\nstation = \"pick\"\npath = {:?}\nbaud = 9600\nterminator = \"any\"\n",
        link.device_path().display().to_string()
    );
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).toml(&device)).await;
    wait_device_up(&daemon, DEVICE, 0).await;
    let body: Vec<_> = (0..5)
        .map(|i| {
            event(
                "receipt.confirmed",
                &format!("PO-{i}"),
                json!({ "lines": i }),
            )
        })
        .collect();
    let ids = daemon.post_events(&json!(body), None).await.ids();
    link.write_line(b"AB\x07\x1b[2JC").await;
    link.write_line("SO-6001").await;
    wait_until(secs(20), "the serial scans are committed", async || {
        committed(&daemon).await >= 1 && daemon.rejected().await.len() == 1
    })
    .await;
    erp.wait_received(&ids, secs(30), "every event is delivered after the 500")
        .await;
    assert_eq!(erp.count(&Outcome::Answered(500)), 1, "one delivery failed");

    let queries: Vec<(String, String)> = {
        let mut out = Vec::new();
        exprs(&dash["panels"], "", &mut out);
        out
    };
    assert!(queries.len() >= PROMISED.len(), "{} queries", queries.len());
    let variables = variable_queries(&dash);
    assert!(!variables.is_empty(), "template variables with queries");

    // Gauges and counters appear as their first value is set: wait until the daemon has
    // something for every query, then require all of it at once.
    let (metrics, problems, used) = wait_for(
        secs(20),
        "every dashboard query finds its series",
        async || {
            let metrics = daemon.metrics().await;
            let expo = Exposition::parse(&metrics);
            let mut used = BTreeSet::new();
            let mut problems = Vec::new();
            for (panel, q) in &queries {
                problems.extend(check_query(
                    &format!("panel {panel:?}"),
                    q,
                    &expo,
                    &mut used,
                ));
            }
            for (what, selector, label) in &variables {
                problems.extend(check_query(what, selector, &expo, &mut used));
                let q = format!("count by ({label}) ({selector})");
                problems.extend(check_query(what, &q, &expo, &mut used));
            }
            if problems.iter().any(|p| p.contains("is not in /metrics")) {
                Err(problems.join("\n"))
            } else {
                Ok((metrics, problems, used))
            }
        },
    )
    .await;
    assert!(
        problems.is_empty(),
        "dashboard queries that do not fit /metrics:\n{}\n\n/metrics:\n{metrics}",
        problems.join("\n")
    );
    for family in PROMISED {
        assert!(used.contains(family), "the dashboard reads {family}");
    }
    // The failure the dashboard shows by reason is the one that happened.
    assert!(
        metrics.contains(r#"dockgate_delivery_failures_total{sink="erp",reason="server_error"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"dockgate_device_up{device="pick-01"} 1"#),
        "{metrics}"
    );

    // The check itself catches what it is there for.
    let expo = Exposition::parse(&metrics);
    let mut scratch = BTreeSet::new();
    for (bad, why) in [
        ("dockgate_backlog_event", "is not in /metrics"),
        (
            r#"dockgate_backlog_events{queue="erp"}"#,
            "no label \"queue\"",
        ),
        (
            "sum by (reason) (dockgate_backlog_events)",
            "grouped by \"reason\"",
        ),
        ("rate(dockgate_buffer_bytes[5m])", "not a counter"),
        (
            "histogram_quantile(0.9, rate(dockgate_deliveries_total[5m]))",
            "not a histogram",
        ),
        ("sum(rate(dockgate_deliveries_total[5m]", "not PromQL"),
    ] {
        let found = check_query("probe", bad, &expo, &mut scratch);
        assert!(found.iter().any(|p| p.contains(why)), "{bad}: {found:?}");
    }
}
