//! Normalising etcdctl output so that two servers' answers can be compared: ids (cluster,
//! member, lease, ...) become `<idN>` placeholders numbered by first appearance, raft terms
//! become `<term>`, ports and temp paths become names, and etcdctl's own client log lines are
//! reduced to the gRPC error they report.

use super::ctl::CtlOutput;
use serde_json::Value;
use std::collections::HashMap;

/// Smallest value treated as an id when it shows up (as a number) where no field name says
/// so. Revisions, versions, counts and TTLs in tests stay far below this.
const BIG_ID: u64 = 1 << 32;
/// Known ids are recognised inside free text only when at least this large, so that small
/// numbers in text never turn into placeholders.
const TEXT_ID_MIN: u64 = 1 << 24;

/// A pattern with one `{}` hole, used by `@let` (capture) and `@mask` (blank out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub prefix: String,
    pub suffix: String,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let Some((p, rest)) = s.split_once("{}") else {
            return Err(format!("template {s:?} has no {{}} hole"));
        };
        if rest.contains("{}") {
            return Err(format!("template {s:?} has more than one {{}} hole"));
        }
        if p.is_empty() && rest.is_empty() {
            return Err("template needs text before or after {}".into());
        }
        Ok(Template {
            prefix: p.to_string(),
            suffix: rest.to_string(),
        })
    }

    /// Byte range of the hole's first match in `text` (matches never span lines).
    pub fn find(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let mut pos = from;
        while pos <= text.len() {
            let rest = &text[pos..];
            if self.prefix.is_empty() {
                // capture the non-empty, non-whitespace run right before the suffix
                let i = rest.find(&self.suffix)? + pos;
                let start = text[..i]
                    .rfind(|c: char| c.is_whitespace())
                    .map(|j| j + 1)
                    .unwrap_or(0)
                    .max(from);
                if start < i {
                    return Some((start, i));
                }
                pos = i + self.suffix.len();
                continue;
            }
            let i = rest.find(&self.prefix)? + pos;
            let start = i + self.prefix.len();
            let line_end = text[start..]
                .find('\n')
                .map(|j| j + start)
                .unwrap_or(text.len());
            let line = &text[start..line_end];
            if self.suffix.is_empty() {
                let end = line
                    .find(|c: char| c.is_whitespace())
                    .map(|j| j + start)
                    .unwrap_or(line_end);
                return Some((start, end));
            }
            if let Some(j) = line.find(&self.suffix) {
                return Some((start, start + j));
            }
            pos = i + 1;
            while pos < text.len() && !text.is_char_boundary(pos) {
                pos += 1;
            }
        }
        None
    }

    /// The hole's first match.
    pub fn capture<'a>(&self, text: &'a str) -> Option<&'a str> {
        self.find(text, 0).map(|(a, b)| &text[a..b])
    }

    /// Replace every match of the hole with `*`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = String::new();
        let mut pos = 0;
        while let Some((a, b)) = self.find(text, pos) {
            out.push_str(&text[pos..a]);
            out.push('*');
            if b > a {
                pos = b;
            } else {
                // empty hole: copy one char so that the search makes progress
                match text[a..].chars().next() {
                    Some(c) => {
                        out.push(c);
                        pos = a + c.len_utf8();
                    }
                    None => return out,
                }
            }
        }
        out.push_str(&text[pos..]);
        out
    }
}

/// Field names (lower-cased, `_` removed) whose numeric values are ids.
fn is_id_key(k: &str) -> bool {
    matches!(
        norm_key(k).as_str(),
        "clusterid" | "memberid" | "id" | "lease" | "leaseid" | "leader" | "memberids"
    )
}

fn is_term_key(k: &str) -> bool {
    matches!(norm_key(k).as_str(), "raftterm" | "term")
}

/// Field names whose string values are user data (base64 keys/values): never rewritten.
/// (`keys`: the attached keys in `lease timetolive --keys -w json`.)
fn is_data_key(k: &str) -> bool {
    matches!(norm_key(k).as_str(), "key" | "value" | "rangeend" | "keys")
}

fn norm_key(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '_')
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Per-server normalisation state; one per scenario side, so placeholders stay consistent
/// across the commands of a scenario.
#[derive(Debug, Default)]
pub struct Normalizer {
    ids: HashMap<u64, String>,
    next_id: usize,
    ports: Vec<(u16, String)>,
    literals: Vec<(String, String)>,
    masks: Vec<Template>,
    sorting: bool,
}

impl Normalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace `:<port>` by `:<label>` in text.
    pub fn add_port(&mut self, port: u16, label: &str) {
        self.ports.push((port, format!("<{label}>")));
    }

    /// Replace every occurrence of `from` by `to` in text (e.g. temp paths).
    pub fn add_literal(&mut self, from: &str, to: &str) {
        if !from.is_empty() {
            self.literals.push((from.to_string(), to.to_string()));
            // longest first, so a path is replaced before its prefix
            self.literals.sort_by_key(|l| std::cmp::Reverse(l.0.len()));
        }
    }

    /// Blank out the hole of `t` in all later output.
    pub fn add_mask(&mut self, t: Template) {
        self.masks.push(t);
    }

    /// Placeholder for an id, numbered by first appearance (unless preset).
    pub fn id(&mut self, v: u64) -> String {
        if let Some(p) = self.ids.get(&v) {
            return p.clone();
        }
        self.next_id += 1;
        let p = format!("<id{}>", self.next_id);
        self.ids.insert(v, p.clone());
        p
    }

    /// Give a known id a fixed placeholder (e.g. member ids: `<member2>`, `<cluster>`).
    pub fn preset_id(&mut self, v: u64, placeholder: &str) {
        if v != 0 {
            self.ids.insert(v, placeholder.to_string());
        }
    }

    fn known(&self, v: u64) -> bool {
        v >= TEXT_ID_MIN && self.ids.contains_key(&v)
    }

    /// Like [`Normalizer::normalize`], but order-insensitive: stdout lines are sorted, and
    /// so are the elements of every JSON array.
    pub fn normalize_sorted(&mut self, out: &CtlOutput, protobuf: bool) -> String {
        self.sorting = true;
        let r = self.normalize(out, protobuf);
        self.sorting = false;
        r
    }

    /// Normalise a whole command result into lines: `out| ...`, `err| ...`, `exit N`.
    pub fn normalize(&mut self, out: &CtlOutput, protobuf: bool) -> String {
        let mut lines = Vec::new();
        let mut stdout = self.stdout_lines(&out.stdout, protobuf);
        if self.sorting && !stdout.first().is_some_and(|l| l == "{" || l == "[") {
            stdout.sort();
        }
        for l in stdout {
            lines.push(format!("out| {l}"));
        }
        for l in self.stderr_lines(&out.stderr) {
            lines.push(format!("err| {l}"));
        }
        lines.push(if out.timed_out {
            "exit TIMEOUT (killed)".to_string()
        } else {
            match out.code {
                Some(c) => format!("exit {c}"),
                None => "exit killed".to_string(),
            }
        });
        let lines: Vec<String> = lines.into_iter().map(|l| self.apply_masks(l)).collect();
        lines.join("\n")
    }

    fn apply_masks(&self, mut l: String) -> String {
        for m in &self.masks {
            l = m.mask(&l);
        }
        l
    }

    /// Normalised stdout lines.
    pub fn stdout_lines(&mut self, bytes: &[u8], protobuf: bool) -> Vec<String> {
        if bytes.is_empty() {
            return Vec::new();
        }
        if protobuf {
            if let Some(msg) = decode_message(bytes) {
                let mut lines = vec!["<protobuf>".to_string()];
                self.render_pb(&msg, 1, true, &mut lines);
                return lines;
            }
        }
        if let Ok(text) = std::str::from_utf8(bytes) {
            let trimmed = text.trim();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                if let Ok(mut v) = serde_json::from_str::<Value>(trimmed) {
                    self.norm_json(&mut v, None);
                    let pretty = serde_json::to_string_pretty(&v).unwrap();
                    return pretty.lines().map(str::to_string).collect();
                }
            }
        }
        let mut out = Vec::new();
        for raw in split_lines(bytes) {
            // etcdctl's progress bars (`check perf`) are redrawn with \r
            // and race with the lines printed after them: compared without
            // the bar, and a line that is only a bar is left out.
            let raw = match raw.iter().rposition(|&b| b == b'\r') {
                Some(at) if at + 1 < raw.len() => raw[at + 1..].to_vec(),
                _ => raw,
            };
            let raw = strip_progress_bar(&raw);
            if raw.is_empty() {
                continue;
            }
            let line = escape_bytes(&raw);
            let t = line.trim();
            if (t.starts_with('{') || t.starts_with('[')) && std::str::from_utf8(&raw).is_ok() {
                if let Ok(mut v) = serde_json::from_str::<Value>(t) {
                    self.norm_json(&mut v, None);
                    out.push(serde_json::to_string(&v).unwrap());
                    continue;
                }
            }
            out.push(self.norm_text_line(&line));
        }
        if !bytes.ends_with(b"\n") {
            out.push("<no newline at end>".to_string());
        }
        out
    }

    /// Normalised stderr lines; etcdctl's JSON client log lines are reduced to the error they
    /// carry (`grpc-log| rpc error: code = ... desc = ...`) or dropped.
    pub fn stderr_lines(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for raw in split_lines(bytes) {
            let line = escape_bytes(&raw);
            let t = line.trim();
            if t.starts_with('{') {
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(t) {
                    if m.contains_key("level") {
                        if let Some(e) = m.get("error") {
                            let e = match e {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            let l = format!("client-log: {}", self.norm_text_line(&e));
                            if out.last() != Some(&l) {
                                out.push(l);
                            }
                        }
                        continue;
                    }
                }
            }
            out.push(self.norm_text_line(&line));
        }
        out
    }

    fn norm_json(&mut self, v: &mut Value, key: Option<&str>) {
        match v {
            Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    self.norm_json(val, Some(k));
                }
            }
            Value::Array(a) => {
                for val in a.iter_mut() {
                    self.norm_json(val, key);
                }
                if self.sorting {
                    a.sort_by_cached_key(|v| v.to_string());
                }
            }
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    let k = key.unwrap_or("");
                    if u != 0 && is_id_key(k) {
                        *v = Value::String(self.id(u));
                    } else if u != 0 && is_term_key(k) {
                        *v = Value::String("<term>".into());
                    } else if u >= BIG_ID {
                        *v = Value::String(self.id(u));
                    }
                }
            }
            Value::String(s) if key.map(is_data_key).unwrap_or(false) => {
                // base64 user data: keep it, and show the decoded text for readable diffs
                if let Some(text) = decode_base64(s)
                    .filter(|b| !b.is_empty())
                    .map(|b| escape_bytes(&b))
                {
                    *s = format!("{s} ({text})");
                }
            }
            Value::String(s) => {
                *s = self.norm_text_line(s);
            }
            _ => {}
        }
    }

    /// Normalise one line of free text.
    pub fn norm_text_line(&mut self, line: &str) -> String {
        let mut s = line.to_string();
        for (from, to) in &self.literals {
            if s.contains(from.as_str()) {
                s = s.replace(from.as_str(), to);
            }
        }
        s = self.replace_ports(&s);
        // `-w fields` lines: "Key" : value
        if let Some(rest) = s.strip_prefix('"') {
            if let Some((k, v)) = rest.split_once("\" : ") {
                if let Ok(u) = v.trim().parse::<u64>() {
                    if u != 0 && is_id_key(k) {
                        return format!("\"{k}\" : {}", self.id(u));
                    }
                    if u != 0 && is_term_key(k) {
                        return format!("\"{k}\" : <term>");
                    }
                }
            }
        }
        unpad_placeholders(&self.replace_id_tokens(&s))
    }

    fn replace_ports(&self, s: &str) -> String {
        if self.ports.is_empty() || !s.contains(':') {
            return s.to_string();
        }
        let b = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b':' {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end > start {
                    if let Ok(p) = s[start..end].parse::<u16>() {
                        if let Some((_, label)) = self.ports.iter().find(|(q, _)| *q == p) {
                            out.push(':');
                            out.push_str(label);
                            i = end;
                            continue;
                        }
                    }
                }
            }
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
        out
    }

    /// Ids inside free text: known ids (decimal or hex) and new ones that look like ids
    /// (15+ decimal digits, or 12..16 lower-case hex digits).
    fn replace_id_tokens(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while !rest.is_empty() {
            let start = rest.find(|c: char| c.is_ascii_alphanumeric());
            let Some(start) = start else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(tail.len());
            let tok = &tail[..end];
            // don't touch tokens glued to a placeholder like <id1>
            out.push_str(&self.id_token(tok).unwrap_or_else(|| tok.to_string()));
            rest = &tail[end..];
        }
        out
    }

    fn id_token(&mut self, tok: &str) -> Option<String> {
        let is_dec = tok.bytes().all(|c| c.is_ascii_digit());
        let is_hex = tok
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        let dec = if is_dec {
            tok.parse::<u64>().ok()
        } else {
            None
        };
        let hex = if is_hex && tok.len() <= 16 {
            u64::from_str_radix(tok, 16).ok()
        } else {
            None
        };
        if let Some(v) = hex.filter(|v| self.known(*v)) {
            if !(is_dec && dec.map(|d| self.known(d)).unwrap_or(false)) {
                return Some(self.id(v));
            }
        }
        if let Some(v) = dec.filter(|v| self.known(*v)) {
            return Some(self.id(v));
        }
        if let Some(v) = dec.filter(|_| tok.len() >= 15) {
            let p = self.id(v);
            // 16 digits may as well be a zero-padded hex id (`lease 0000000000001234 ...`,
            // or a lease id whose hex has no letter): both readings share the placeholder,
            // so the id compares when it shows up in decimal later (JSON).
            if let Some(h) = hex.filter(|h| tok.len() == 16 && !self.ids.contains_key(h)) {
                self.ids.insert(h, p.clone());
            }
            return Some(p);
        }
        if let Some(v) = hex.filter(|_| tok.len() >= 12) {
            return Some(self.id(v));
        }
        None
    }

    fn render_pb(&mut self, msg: &[(u32, PbVal)], depth: usize, top: bool, out: &mut Vec<String>) {
        let ind = "  ".repeat(depth);
        for (field, val) in msg {
            match val {
                PbVal::Varint(v) => {
                    // top-level field 1 is the ResponseHeader: 1 cluster_id, 2 member_id,
                    // 4 raft_term
                    let header = depth == 2 && top;
                    let s = if *v != 0 && header && (*field == 1 || *field == 2) {
                        self.id(*v)
                    } else if *v != 0 && header && *field == 4 {
                        "<term>".into()
                    } else if *v >= BIG_ID {
                        self.id(*v)
                    } else {
                        v.to_string()
                    };
                    out.push(format!("{ind}{field}: {s}"));
                }
                PbVal::Fixed64(v) => out.push(format!("{ind}{field}: fixed64 {v:#x}")),
                PbVal::Fixed32(v) => out.push(format!("{ind}{field}: fixed32 {v:#x}")),
                PbVal::Bytes(b) => match decode_message(b).filter(|m| !m.is_empty()) {
                    Some(m) => {
                        out.push(format!("{ind}{field} {{"));
                        self.render_pb(&m, depth + 1, top && depth == 1 && *field == 1, out);
                        out.push(format!("{ind}}}"));
                    }
                    None => out.push(format!("{ind}{field}: \"{}\"", escape_bytes(b))),
                },
            }
        }
    }
}

/// etcdctl right-aligns ids in 16 columns (`%16x`), so an id with a leading
/// zero nibble gets an extra space before it: once the id is a placeholder,
/// that padding says nothing and is dropped.
fn unpad_placeholders(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("  <") {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let placeholder = tail.trim_start_matches(' ');
        let is_id = ["<member", "<cluster>", "<id"]
            .iter()
            .any(|p| placeholder.starts_with(p));
        if is_id {
            out.push(' ');
        } else {
            out.push_str(&tail[..tail.len() - placeholder.len()]);
        }
        rest = placeholder;
    }
    out.push_str(rest);
    out
}

/// `text` with every run of identical adjacent lines collapsed into one (for output whose
/// length depends on timing, like `lease keep-alive` renewals).
pub fn uniq_lines(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for l in text.lines() {
        if out.last() != Some(&l) {
            out.push(l);
        }
    }
    out.join("\n")
}

/// The lines of `etcdctl check perf`'s verdict, which depends on the machine's load at the
/// time, not on the server's behaviour. "Slowest request took too long: 0.6s" is matched by
/// its start: a scenario's `@mask "Slowest request took {}s"` turns it into
/// "Slowest request took *s".
const TIMED_VERDICT_LINES: [&str; 5] = [
    "out| PASS",
    "out| FAIL: Throughput too low",
    "out| Slowest request took ",
    "out| Stddev too high",
    "exit ",
];
/// Exact verdict lines (a `FAIL: too many errors` line stays compared).
const TIMED_VERDICT_WORDS: [&str; 1] = ["out| FAIL"];

/// Drop the verdict lines and the exit code from a normalised output; `None` if it holds no
/// verdict at all (the command did not get as far as judging).
pub fn drop_timed_verdict(text: &str) -> Option<String> {
    let judged = text
        .lines()
        .any(|l| l == "out| PASS" || l == "out| FAIL" || l.starts_with("out| FAIL: "));
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !TIMED_VERDICT_WORDS.contains(l)
                && !TIMED_VERDICT_LINES.iter().any(|v| l.starts_with(v))
        })
        .collect();
    judged.then(|| kept.join("\n"))
}

/// Standard base64 (with padding) to bytes; `None` if `s` is not base64.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Split into lines on `\n`, dropping the final empty piece.
/// `raw` without a leading progress bar (`  59 / 60   98.33% 00m01s`).
pub fn strip_progress_bar(raw: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return raw.to_vec();
    };
    let Some(pct) = text.find('%') else {
        return raw.to_vec();
    };
    let number = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let head: Vec<&str> = text[..pct].split_whitespace().collect();
    let is_bar = matches!(head.as_slice(), [done, "/", total, percent]
        if number(done) && number(total) && number(percent));
    if !is_bar {
        return raw.to_vec();
    }
    let rest = text[pct + 1..].trim_start();
    let is_time = |w: &str| {
        w.ends_with('s')
            && w.contains('m')
            && w.bytes()
                .all(|b| b.is_ascii_digit() || b == b'm' || b == b's')
    };
    let rest = match rest.split_once(char::is_whitespace) {
        Some((word, after)) if is_time(word) => after,
        None if is_time(rest) => "",
        _ => rest,
    };
    rest.trim_start().as_bytes().to_vec()
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(|l| l.to_vec()).collect();
    if v.last().map(|l| l.is_empty()).unwrap_or(false) {
        v.pop();
    }
    v
}

/// Printable ASCII and valid UTF-8 as-is; everything else (and `\`) escaped.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// A protobuf field value on the wire.
#[derive(Debug, Clone)]
pub enum PbVal {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Decode a protobuf message without its schema; `None` unless all of `b` parses.
pub fn decode_message(b: &[u8]) -> Option<Vec<(u32, PbVal)>> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while pos < b.len() {
        let tag = read_varint(b, &mut pos)?;
        let field = u32::try_from(tag >> 3).ok()?;
        if field == 0 || field > (1 << 29) - 1 {
            return None;
        }
        let val = match tag & 7 {
            0 => PbVal::Varint(read_varint(b, &mut pos)?),
            1 => {
                let s = b.get(pos..pos + 8)?;
                pos += 8;
                PbVal::Fixed64(u64::from_le_bytes(s.try_into().ok()?))
            }
            2 => {
                let len = usize::try_from(read_varint(b, &mut pos)?).ok()?;
                let s = b.get(pos..pos.checked_add(len)?)?;
                pos += len;
                PbVal::Bytes(s.to_vec())
            }
            5 => {
                let s = b.get(pos..pos + 4)?;
                pos += 4;
                PbVal::Fixed32(u32::from_le_bytes(s.try_into().ok()?))
            }
            _ => return None,
        };
        fields.push((field, val));
    }
    Some(fields)
}
