//! Payload mapping (`format = "template"`): a sink's body rendered by a Jinja template
//! (minijinja) from the events' CloudEvents, in the XML, JSON or CSV its receiver wants.
//!
//! The template sees `event` (one CloudEvent: `id`, `type`, `subject`, `time`, `sequence`,
//! `source`, `data`) when the sink sends one event per request, or `events` (a list of them, in
//! sequence order) when `batch_max_events` is above 1. Escaping follows the file name: a
//! `.xml` or `.html` template (also `.xml.j2`) escapes every value for markup, a `.json` one
//! writes every value as JSON; others write values as they are. A value the template asks
//! for that the event does not have is an error, not an empty string (`| default("")` and
//! `is defined` say otherwise), so a mapping never sends a half-filled document: the event is
//! dead-lettered with reason `mapping_failed`.
//!
//! Filters beyond minijinja's own (`tojson`, `upper`, `replace`, `default`, `format`, ...):
//! `datetimeformat`, `dateformat`, `timeformat` (UTC; `format="[year][month][day]"`, the `time`
//! crate's format language), `zfill(width)`, `csv` and `lookup(table, default)` over the sink's
//! `[sinks.<name>.lookup.<table>]` tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::Kwargs;
use minijinja::{context, Environment, Error, ErrorKind, State, UndefinedBehavior, Value};

use crate::config::{Config, Problem, SinkConfig, SinkFormat, SinkKind};

mod lazy;

/// The template's name in its environment: the file's, so escaping follows its extension.
const NAME_FALLBACK: &str = "template";

/// A compiled mapping of one sink.
pub struct Mapping {
    env: Environment<'static>,
    name: String,
    /// Renders `events` (a list) rather than `event`.
    batch: bool,
    content_type: String,
}

/// A template that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The file cannot be read.
    #[error("template_file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The template does not compile.
    #[error("template_file {path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where, when minijinja says.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl Mapping {
    /// The mapping of `config` (sink `sink`), reading and compiling its template; `None` for a
    /// CloudEvents sink.
    pub fn compile(config: &SinkConfig) -> Result<Option<Self>, MappingError> {
        let (SinkFormat::Template, Some(path)) = (config.format, &config.template_file) else {
            return Ok(None);
        };
        let source = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
            path: path.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(NAME_FALLBACK)
            .to_owned();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // Strict undefined values fail where they are written, but a filter is handed them:
        // each of these refuses one, so a missing field is not sent as "", "00000" or a
        // lookup's default.
        env.add_filter(
            "datetimeformat",
            |state: &State, v: Value, kwargs: Kwargs| {
                minijinja_contrib::filters::datetimeformat(
                    state,
                    defined(v, "datetimeformat")?,
                    kwargs,
                )
            },
        );
        env.add_filter("dateformat", |state: &State, v: Value, kwargs: Kwargs| {
            minijinja_contrib::filters::dateformat(state, defined(v, "dateformat")?, kwargs)
        });
        env.add_filter("timeformat", |state: &State, v: Value, kwargs: Kwargs| {
            minijinja_contrib::filters::timeformat(state, defined(v, "timeformat")?, kwargs)
        });
        env.add_filter("zfill", |v: Value, width: usize| {
            Ok::<_, Error>(zfill(defined(v, "zfill")?, width))
        });
        env.add_filter("csv", |v: Value| Ok::<_, Error>(csv(defined(v, "csv")?)));
        let tables = Arc::new(config.lookup.clone());
        env.add_filter(
            "lookup",
            move |value: Value, table: String, default: Option<Value>| {
                lookup(&tables, defined(value, "lookup")?, &table, default)
            },
        );
        env.add_template_owned(name.clone(), source)
            .map_err(|e| MappingError::Syntax {
                path: path.clone(),
                line: e.line(),
                message: e.detail().unwrap_or(&e.kind().to_string()).to_owned(),
            })?;
        // A NATS sink publishes each event as its own message: its template renders `event`.
        let batch = config.batch_max_events > 1 && config.kind == SinkKind::Http;
        lint(&env, &name, batch, config.batch_max_events).map_err(|(line, message)| {
            MappingError::Syntax {
                path: path.clone(),
                line,
                message,
            }
        })?;
        Ok(Some(Self {
            env,
            name,
            batch,
            content_type: config.content_type.clone().unwrap_or_default(),
        }))
    }

    /// The body for these events (their CloudEvents JSON, in sequence order); the reason when
    /// the template fails for them.
    pub fn render(&self, events: &[Arc<str>]) -> Result<String, String> {
        let mut parsed: Vec<Value> = events
            .iter()
            .map(|e| lazy::event(e).map_err(|e| format!("reading the event: {e}")))
            .collect::<Result<_, _>>()?;
        let template = self
            .env
            .get_template(&self.name)
            .map_err(|e| e.to_string())?;
        let rendered = if self.batch {
            template.render(context! { events => Value::from(parsed) })
        } else {
            let event = parsed.pop().ok_or("no event to render")?;
            template.render(context! { event => event })
        };
        rendered.map_err(|e| describe(&e))
    }

    /// The `Content-Type` of the bodies.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }
}

/// The template problems of every sink of `config` whose template file is on this machine,
/// as configuration problems (`FILE:LINE`); the keys of those that are not, beside them.
pub fn check(config: &Config) -> (Vec<(PathBuf, Problem)>, Vec<String>) {
    let mut problems = Vec::new();
    let mut absent = Vec::new();
    for (name, sink) in &config.sinks {
        let Some(path) = sink
            .template_file
            .as_ref()
            .filter(|_| sink.format == SinkFormat::Template)
        else {
            continue;
        };
        if !Path::new(path).exists() {
            absent.push(format!("sinks.{name}.template_file {}", path.display()));
            continue;
        }
        if let Err(e) = Mapping::compile(sink) {
            let (line, message) = match &e {
                MappingError::Syntax { line, message, .. } => (*line, message.clone()),
                MappingError::Read { source, .. } => (None, format!("cannot read: {source}")),
            };
            problems.push((
                path.clone(),
                Problem {
                    key: format!("sinks.{name}.template_file"),
                    line,
                    message,
                },
            ));
        }
    }
    (problems, absent)
}

/// What compiles but can never render, found before the first event: a template written for
/// one event on a sink that sends batches (or the other way round), and filters, tests or
/// functions that do not exist (minijinja finds those only when it reaches them, so the
/// template is run once on an empty event, where every field is undefined and no branch fails).
fn lint(
    env: &Environment<'static>,
    name: &str,
    batch: bool,
    batch_max: usize,
) -> Result<(), (Option<usize>, String)> {
    let template = env
        .get_template(name)
        .map_err(|e| (e.line(), e.to_string()))?;
    let names = template.undeclared_variables(false);
    let (wrong, right) = if batch {
        ("event", "events")
    } else {
        ("events", "event")
    };
    if names.contains(wrong) && !names.contains(right) {
        return Err((
            None,
            if batch {
                format!(
                    "the template uses `event`, but this sink sends batches (batch_max_events = \
                     {batch_max}), so it gets `events`, a list: loop over `events`, or set \
                     batch_max_events = 1"
                )
            } else {
                "the template uses `events`, but this sink sends one event per request \
                 (batch_max_events = 1), so it gets `event`: use `event`, or raise \
                 batch_max_events"
                    .to_owned()
            },
        ));
    }
    let mut probe = env.clone();
    probe.set_undefined_behavior(UndefinedBehavior::Chainable);
    let empty = Value::from(BTreeMap::<String, Value>::new());
    let rendered = probe
        .get_template(name)
        .and_then(|t| t.render(context! { event => empty.clone(), events => vec![empty] }));
    match rendered {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnknownFilter | ErrorKind::UnknownTest | ErrorKind::UnknownFunction
            ) =>
        {
            let message = e
                .detail()
                .map_or_else(|| e.kind().to_string(), str::to_owned);
            Err((e.line(), message))
        }
        _ => Ok(()),
    }
}

/// A render error with where it happened in the template.
fn describe(e: &Error) -> String {
    let mut text = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    if let Some(line) = e.line() {
        text = format!("line {line}: {text}");
    }
    if e.kind() == ErrorKind::UndefinedError {
        text.push_str(" (the event has no such field: use `| default(...)` or `is defined`)");
    }
    text
}

/// `value`, unless it is undefined (a field the event does not have): then the error that
/// names `filter` and says how to give a default.
fn defined(value: Value, filter: &str) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("undefined value given to `{filter}`"),
        ));
    }
    Ok(value)
}

/// `{{ 42 | zfill(6) }}` → `000042`: left-padded with zeros to `width` characters.
fn zfill(value: Value, width: usize) -> String {
    let text = value.to_string();
    let short = width.saturating_sub(text.chars().count());
    format!("{}{text}", "0".repeat(short))
}

/// A CSV field: quoted (quotes doubled) when it holds a comma, quote or line break.
fn csv(value: Value) -> String {
    let text = value.to_string();
    if text.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `{{ event.data.door | lookup("plant") }}`: the entry of the sink's table; `default` when
/// it has none, else an error (the event is dead-lettered, naming table and key).
fn lookup(
    tables: &BTreeMap<String, BTreeMap<String, String>>,
    value: Value,
    table: &str,
    default: Option<Value>,
) -> Result<Value, Error> {
    let Some(entries) = tables.get(table) else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("no lookup table {table:?} in this sink's [lookup]"),
        ));
    };
    let key = value.to_string();
    match (entries.get(&key), default) {
        (Some(v), _) => Ok(Value::from(v.as_str())),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{key:?} is not in lookup table {table:?}"),
        )),
    }
}

#[cfg(test)]
mod tests;
