//! `--log-format json` in the shape of etcd's zap logger, so log pipelines
//! written for etcd read oxcd's lines: one object per line with `level`
//! (lower case), `ts` (RFC 3339, UTC), `caller` (the module), `msg`, then
//! the event's fields by name.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub struct EtcdJson;

impl<S, N> FormatEvent<S, N> for EtcdJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(writer, "{}", line(meta.level(), &ts, meta.target(), fields))
    }
}

/// The event's message and other fields.
#[derive(Default)]
struct Fields {
    msg: String,
    rest: Map<String, Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::String(msg)) => self.msg = msg,
            (name, value) => {
                self.rest.insert(name.to_string(), value);
            }
        }
    }
}

/// etcd's key order: level, ts, caller, msg, then the fields.
fn line(level: &tracing::Level, ts: &str, caller: &str, fields: Fields) -> String {
    let mut out = String::from("{");
    let head = [
        ("level", Value::from(level.as_str().to_ascii_lowercase())),
        ("ts", Value::from(ts)),
        ("caller", Value::from(caller)),
        ("msg", Value::from(fields.msg)),
    ];
    let all = head
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(fields.rest);
    for (i, (key, value)) in all.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(key).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_etcds_keys_in_etcds_order() {
        let mut fields = Fields {
            msg: "apply request took too long".into(),
            ..Default::default()
        };
        fields.rest.insert("took".into(), "150ms".into());
        let text = line(
            &tracing::Level::WARN,
            "2026-12-04T03:00:00.000000Z",
            "oxcd::actors::applier",
            fields,
        );
        assert_eq!(
            text,
            r#"{"level":"warn","ts":"2026-12-04T03:00:00.000000Z","caller":"oxcd::actors::applier","msg":"apply request took too long","took":"150ms"}"#
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["msg"], "apply request took too long");
    }
}
