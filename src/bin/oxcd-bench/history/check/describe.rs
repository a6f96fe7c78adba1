//! Short texts for violation messages: times, keys and values, key-values, requests.

use super::keyrange::KeyRange;
use crate::history::{Compare, CompareTarget, EventKind, Kv, Operation, Request};

/// Longest key or value printed whole; values can be long and a message should stay a line.
const LONGEST: usize = 48;

/// A key or value, quoted (control characters such as "\0" stay visible), cut if long.
pub fn text(s: &str) -> String {
    if s.chars().count() <= LONGEST {
        return format!("{s:?}");
    }
    let cut: String = s.chars().take(LONGEST).collect();
    format!("{cut:?}...")
}

/// A recorder time (nanoseconds) as seconds with microseconds.
pub fn time(ns: u64) -> String {
    format!("{}.{:06}s", ns / 1_000_000_000, ns % 1_000_000_000 / 1_000)
}

pub fn kv(kv: &Kv) -> String {
    let lease = if kv.lease == 0 {
        String::new()
    } else {
        format!(", lease {}", kv.lease)
    };
    format!(
        "{}={} (create {}, mod {}, version {}{lease})",
        text(&kv.key),
        text(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version
    )
}

pub fn maybe_kv(found: Option<&Kv>) -> String {
    found.map_or_else(|| "nothing".to_string(), kv)
}

pub fn event(kind: EventKind, of: &Kv) -> String {
    match kind {
        EventKind::Put => format!("put {}", kv(of)),
        EventKind::Delete => format!("delete {} (mod {})", text(&of.key), of.mod_revision),
    }
}

pub fn compare(c: &Compare) -> String {
    let key = text(&c.key);
    match &c.target {
        CompareTarget::ModRevision(n) => format!("mod_revision({key}) = {n}"),
        CompareTarget::CreateRevision(n) => format!("create_revision({key}) = {n}"),
        CompareTarget::Version(n) => format!("version({key}) = {n}"),
        CompareTarget::Value(v) => format!("value({key}) = {}", text(v)),
    }
}

pub fn request(r: &Request) -> String {
    match r {
        Request::Range {
            key,
            end,
            limit,
            revision,
            serializable,
            keys_only,
            count_only,
        } => {
            let mut s = String::new();
            if *serializable {
                s.push_str("serializable ");
            }
            s.push_str(&format!("range {}", KeyRange::new(key, end)));
            if *limit > 0 {
                s.push_str(&format!(" limit {limit}"));
            }
            if *revision > 0 {
                s.push_str(&format!(" at revision {revision}"));
            }
            if *keys_only {
                s.push_str(" keys-only");
            }
            if *count_only {
                s.push_str(" count-only");
            }
            s
        }
        Request::Put { key, value, lease } => {
            let lease = if *lease == 0 {
                String::new()
            } else {
                format!(" with lease {lease}")
            };
            format!("put {}={}{lease}", text(key), text(value))
        }
        Request::Delete { key } => format!("delete {}", text(key)),
        Request::Txn {
            compares,
            success,
            failure,
        } => {
            let list = |rs: &[Request]| rs.iter().map(request).collect::<Vec<_>>().join("; ");
            let ifs: Vec<String> = compares.iter().map(compare).collect();
            let condition = if ifs.is_empty() {
                String::new()
            } else {
                format!(" if {}", ifs.join(" and "))
            };
            format!(
                "txn{condition} then [{}] else [{}]",
                list(success),
                list(failure)
            )
        }
        Request::LeaseGrant { ttl } => format!("lease grant (ttl {ttl})"),
        Request::LeaseRevoke { id } => format!("lease revoke {id}"),
        Request::Compact { revision } => format!("compact to {revision}"),
    }
}

/// "client 3's put "k"="v" (invoked 1.000000s, returned 1.002000s)".
pub fn op(op: &Operation) -> String {
    let (how, outcome) = match &op.outcome {
        Ok(_) => ("returned", String::new()),
        Err(e) => ("failed", format!(", outcome unknown: {}", text(e))),
    };
    format!(
        "client {}'s {} (invoked {}, {how} {}{outcome})",
        op.client,
        request(&op.request),
        time(op.invoke),
        time(op.complete)
    )
}
