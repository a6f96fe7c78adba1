//! The report's list of violations: every one counted, only the first few kept, so a badly
//! broken run still prints a readable report.

use std::collections::BTreeMap;

/// Violations kept in the report; the rest are only counted.
const KEEP: usize = 50;
/// Violations kept of any one kind, so a flood of one kind does not hide the others.
const KEEP_PER_KIND: usize = 20;

#[derive(Debug, Default)]
pub struct Violations {
    kept: Vec<String>,
    by_kind: BTreeMap<String, usize>,
    total: usize,
}

impl Violations {
    /// `message` starts with its kind and a colon ("stale read: ...").
    pub fn push(&mut self, message: String) {
        let kind = message.split(':').next().unwrap_or_default().to_string();
        let seen = self.by_kind.entry(kind).or_default();
        *seen += 1;
        self.total += 1;
        if *seen <= KEEP_PER_KIND && self.kept.len() < KEEP {
            self.kept.push(message);
        }
    }

    pub fn into_list(self) -> Vec<String> {
        let mut list = self.kept;
        let left_out = self.total - list.len();
        if left_out > 0 {
            let kinds: Vec<String> = self
                .by_kind
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            list.push(format!(
                "... and {left_out} more violations ({} in all: {})",
                self.total,
                kinds.join(", ")
            ));
        }
        list
    }
}
