//! Scenario files (`tests/scenarios/<area>/<name>.scn`): parsing, running one against a
//! server, and comparing the reference etcd with oxcd. The format is documented in
//! docs/testing.md.

use super::ctl::{etcdctl_command, BgProcess, CtlOutput};
use super::diff::line_diff;
use super::normalize::{drop_timed_verdict, uniq_lines, Normalizer, Template};
use super::server::{require_etcd, Cluster, ServerKind};
use std::collections::HashMap;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Default deadline for one scenario command.
const DEFAULT_CMD_TIMEOUT: Duration = Duration::from_secs(20);
/// `@wait` and `@stop` deadlines.
const BG_WAIT: Duration = Duration::from_secs(10);
const BG_QUIET: Duration = Duration::from_millis(300);

/// The root of the scenario tree.
pub fn scenarios_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Part of a word: literal bytes or a `${VAR}` reference resolved per server at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(Vec<u8>),
    Var(String),
}

/// One argument (or a heredoc body), made of pieces.
pub type Word = Vec<Piece>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    All,
    One(usize), // 0-based
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    None,
    DecToHex,
    HexToDec,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// An etcdctl command (args after the implicit `--endpoints=`), optional stdin.
    Ctl {
        args: Vec<Word>,
        stdin: Option<Word>,
    },
    /// Start an etcdctl command in the background.
    Bg {
        id: String,
        args: Vec<Word>,
        stdin: Option<Word>,
    },
    /// Wait for quiet output, kill the background command, compare its output.
    Stop {
        id: String,
    },
    /// Write a line to a background command's stdin (`watch -i`).
    Send {
        id: String,
        line: Word,
    },
    /// Wait until a background command's stdout contains the text.
    Wait {
        id: String,
        text: Word,
    },
    Sleep(Duration),
    Kill(Members),
    Start(Members),
    Restart(Members),
    /// Which member(s) later commands talk to.
    Use(Members),
    /// Capture part of the previous command's stdout into a variable.
    Let {
        var: String,
        conv: Conv,
        template: Template,
    },
    /// Blank out part of all later outputs.
    Mask(Template),
    /// The previous command's normalised output contains this text.
    Expect(String),
    /// The previous command exited with this code.
    ExpectExit(i32),
    /// The previous command exited non-zero.
    ExpectFail,
    /// Compare the previous command's output lines in sorted order.
    Sort,
    /// Collapse runs of identical adjacent lines in the previous command's output.
    Uniq,
    /// The previous command's PASS/FAIL verdict depends on timing (`check perf`): leave the
    /// verdict and exit code out of the comparison, but require one.
    TimedVerdict,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub source: String,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// `<area>/<name>`
    pub name: String,
    pub path: PathBuf,
    /// Extra server flags (`@flags`), for both servers.
    pub flags: Vec<String>,
    /// Cluster size (`@members`).
    pub members: usize,
    /// Per-command deadline (`@timeout`).
    pub timeout: Duration,
    pub steps: Vec<Step>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms or s)"))?;
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms or s)")),
    };
    Ok(Duration::from_micros((ms * 1000.0) as u64))
}

fn push_escape(
    chars: &mut std::iter::Peekable<std::str::Chars>,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let c = chars.next().ok_or("dangling backslash at end of line")?;
    match c {
        'n' => buf.push(b'\n'),
        't' => buf.push(b'\t'),
        'r' => buf.push(b'\r'),
        'x' => {
            let h: String = [chars.next(), chars.next()]
                .iter()
                .map(|c| c.ok_or("\\x needs two hex digits"))
                .collect::<Result<_, _>>()?;
            let v = u8::from_str_radix(&h, 16).map_err(|_| format!("bad escape \\x{h}"))?;
            buf.push(v);
        }
        other => {
            let mut b = [0u8; 4];
            buf.extend_from_slice(other.encode_utf8(&mut b).as_bytes());
        }
    }
    Ok(())
}

/// Parse the inside of `${...}`: a variable name, or `repeat N TEXT`.
fn expansion(inner: &str) -> Result<Piece, String> {
    let inner = inner.trim();
    if let Some(rest) = inner.strip_prefix("repeat ") {
        let (n, text) = rest
            .trim_start()
            .split_once(' ')
            .ok_or("use ${repeat COUNT TEXT}")?;
        let n: usize = n.parse().map_err(|_| format!("bad repeat count {n:?}"))?;
        return Ok(Piece::Lit(text.repeat(n).into_bytes()));
    }
    if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(Piece::Var(inner.to_string()));
    }
    Err(format!("bad expansion ${{{inner}}}"))
}

fn read_expansion(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<Piece, String> {
    // after "${"
    let mut inner = String::new();
    loop {
        match chars.next() {
            Some('}') => break,
            Some(c) => inner.push(c),
            None => return Err("unterminated ${".into()),
        }
    }
    expansion(&inner)
}

fn push_lit(word: &mut Word, bytes: &[u8]) {
    if let Some(Piece::Lit(b)) = word.last_mut() {
        b.extend_from_slice(bytes);
    } else {
        word.push(Piece::Lit(bytes.to_vec()));
    }
}

/// A heredoc request found at the end of a line: delimiter and whether to expand `${}`.
#[derive(Debug, Clone)]
struct HeredocSpec {
    delim: String,
    expand: bool,
}

/// Split a line into shell-like words.
fn tokenize(line: &str) -> Result<(Vec<Word>, Option<HeredocSpec>), String> {
    let mut words: Vec<Word> = Vec::new();
    let mut heredoc = None;
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().map(|c| c.is_whitespace()).unwrap_or(false) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if heredoc.is_some() {
            return Err("nothing may follow a <<DELIM heredoc marker".into());
        }
        if first == '<' {
            let rest: String = chars.clone().collect();
            if let Some(d) = rest.strip_prefix("<<") {
                let d = d.split_whitespace().next().unwrap_or("");
                let (delim, expand) = match d.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))
                {
                    Some(q) => (q.to_string(), false),
                    None => (d.to_string(), true),
                };
                if delim.is_empty() {
                    return Err("heredoc needs a delimiter: <<EOF".into());
                }
                heredoc = Some(HeredocSpec { delim, expand });
                for _ in 0..2 + d.chars().count() {
                    chars.next();
                }
                continue;
            }
        }
        let mut word: Word = Vec::new();
        let mut started = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            started = true;
            match c {
                '\'' => {
                    let mut buf = String::new();
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => buf.push(c),
                            None => return Err("unterminated '".into()),
                        }
                    }
                    push_lit(&mut word, buf.as_bytes());
                }
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => {
                            let mut b = Vec::new();
                            push_escape(&mut chars, &mut b)?;
                            push_lit(&mut word, &b);
                        }
                        Some('$') if chars.peek() == Some(&'{') => {
                            chars.next();
                            match read_expansion(&mut chars)? {
                                Piece::Lit(b) => push_lit(&mut word, &b),
                                v => word.push(v),
                            }
                        }
                        Some(c) => {
                            let mut b = [0u8; 4];
                            push_lit(&mut word, c.encode_utf8(&mut b).as_bytes());
                        }
                        None => return Err("unterminated \"".into()),
                    }
                },
                '\\' => {
                    let mut b = Vec::new();
                    push_escape(&mut chars, &mut b)?;
                    push_lit(&mut word, &b);
                }
                '$' if chars.peek() == Some(&'{') => {
                    chars.next();
                    match read_expansion(&mut chars)? {
                        Piece::Lit(b) => push_lit(&mut word, &b),
                        v => word.push(v),
                    }
                }
                c => {
                    let mut b = [0u8; 4];
                    push_lit(&mut word, c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if started {
            if word.is_empty() {
                word.push(Piece::Lit(Vec::new()));
            }
            words.push(word);
        }
    }
    Ok((words, heredoc))
}

/// Expand `${...}` inside a heredoc body.
fn heredoc_word(body: &str, expand: bool) -> Result<Word, String> {
    let mut word = Vec::new();
    if !expand {
        push_lit(&mut word, body.as_bytes());
        return Ok(word);
    }
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek() == Some(&'{') {
            chars.next();
            match read_expansion(&mut chars)? {
                Piece::Lit(b) => push_lit(&mut word, &b),
                v => word.push(v),
            }
        } else {
            let mut b = [0u8; 4];
            push_lit(&mut word, c.encode_utf8(&mut b).as_bytes());
        }
    }
    Ok(word)
}

/// A word that must not reference variables (directive arguments).
fn literal(w: &Word) -> Result<String, String> {
    let mut out = Vec::new();
    for p in w {
        match p {
            Piece::Lit(b) => out.extend_from_slice(b),
            Piece::Var(v) => return Err(format!("${{{v}}} is not allowed here")),
        }
    }
    String::from_utf8(out).map_err(|_| "argument is not UTF-8".to_string())
}

fn parse_members(words: &[String]) -> Result<Members, String> {
    match words {
        [] => Ok(Members::All),
        [w] if w == "all" => Ok(Members::All),
        [w] => {
            let n: usize = w.parse().map_err(|_| format!("bad member {w:?}"))?;
            if n == 0 {
                return Err("members are numbered from 1".into());
            }
            Ok(Members::One(n - 1))
        }
        _ => Err("expected one member number or `all`".into()),
    }
}

impl Scenario {
    pub fn load(path: &Path, name: &str) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, path, name)
    }

    pub fn parse(text: &str, path: &Path, name: &str) -> Result<Scenario, String> {
        let mut scn = Scenario {
            name: name.to_string(),
            path: path.to_path_buf(),
            flags: Vec::new(),
            members: 1,
            timeout: DEFAULT_CMD_TIMEOUT,
            steps: Vec::new(),
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        let mut bg_ids: Vec<String> = Vec::new();
        while i < lines.len() {
            let lineno = i + 1;
            let line = lines[i];
            i += 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let err = |e: String| format!("{}:{lineno}: {e}\n    {line}", path.display());
            let (mut words, hd) = tokenize(t).map_err(err)?;
            let stdin = match hd {
                None => None,
                Some(spec) => {
                    let mut body = String::new();
                    loop {
                        let Some(l) = lines.get(i) else {
                            return Err(err(format!("heredoc not closed by {}", spec.delim)));
                        };
                        i += 1;
                        if l.trim() == spec.delim {
                            break;
                        }
                        body.push_str(l);
                        body.push('\n');
                    }
                    Some(heredoc_word(&body, spec.expand).map_err(err)?)
                }
            };
            let source = t.to_string();
            let directive = match words.first().map(literal) {
                Some(Ok(w)) if w.starts_with('@') => Some(w),
                _ => None,
            };
            let Some(directive) = directive else {
                scn.steps.push(Step {
                    line: lineno,
                    source,
                    action: Action::Ctl { args: words, stdin },
                });
                continue;
            };
            words.remove(0);
            let lits = || -> Result<Vec<String>, String> { words.iter().map(literal).collect() };
            let header = |scn: &Scenario| -> Result<(), String> {
                if scn.steps.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{directive} must come before the first command"))
                }
            };
            if stdin.is_some() && directive != "@bg" {
                return Err(err(format!("{directive} takes no heredoc")));
            }
            let action = match directive.as_str() {
                "@flags" => {
                    header(&scn).map_err(err)?;
                    scn.flags.extend(lits().map_err(err)?);
                    continue;
                }
                "@members" => {
                    header(&scn).map_err(err)?;
                    let l = lits().map_err(err)?;
                    scn.members = match l.as_slice() {
                        [n] => n.parse().ok().filter(|n| *n >= 1),
                        _ => None,
                    }
                    .ok_or_else(|| err("usage: @members N".into()))?;
                    continue;
                }
                "@timeout" => {
                    header(&scn).map_err(err)?;
                    let l = lits().map_err(err)?;
                    let [d] = l.as_slice() else {
                        return Err(err("usage: @timeout 10s".into()));
                    };
                    scn.timeout = parse_duration(d).map_err(err)?;
                    continue;
                }
                "@bg" => {
                    if words.len() < 2 {
                        return Err(err("usage: @bg ID etcdctl-args...".into()));
                    }
                    let id = literal(&words.remove(0)).map_err(err)?;
                    bg_ids.push(id.clone());
                    Action::Bg {
                        id,
                        args: words,
                        stdin,
                    }
                }
                "@send" => {
                    let [id, line] = words.as_slice() else {
                        return Err(err("usage: @send ID \"line\"".into()));
                    };
                    let id = literal(id).map_err(err)?;
                    if !bg_ids.contains(&id) {
                        return Err(err(format!("no earlier @bg {id}")));
                    }
                    Action::Send {
                        id,
                        line: line.clone(),
                    }
                }
                "@stop" | "@wait" => {
                    let l = lits().map_err(err)?;
                    let Some(id) = l.first() else {
                        return Err(err(format!("usage: {directive} ID")));
                    };
                    if !bg_ids.contains(id) {
                        return Err(err(format!("no earlier @bg {id}")));
                    }
                    if directive == "@stop" {
                        if l.len() != 1 {
                            return Err(err("usage: @stop ID".into()));
                        }
                        Action::Stop { id: id.clone() }
                    } else {
                        if words.len() != 2 {
                            return Err(err("usage: @wait ID \"text\"".into()));
                        }
                        Action::Wait {
                            id: id.clone(),
                            text: words[1].clone(),
                        }
                    }
                }
                "@sleep" => {
                    let l = lits().map_err(err)?;
                    let [d] = l.as_slice() else {
                        return Err(err("usage: @sleep 200ms".into()));
                    };
                    Action::Sleep(parse_duration(d).map_err(err)?)
                }
                "@kill" => Action::Kill(parse_members(&lits().map_err(err)?).map_err(err)?),
                "@start" => Action::Start(parse_members(&lits().map_err(err)?).map_err(err)?),
                "@restart" => Action::Restart(parse_members(&lits().map_err(err)?).map_err(err)?),
                "@use" => {
                    let l = lits().map_err(err)?;
                    if l.is_empty() {
                        return Err(err("usage: @use N | @use all".into()));
                    }
                    Action::Use(parse_members(&l).map_err(err)?)
                }
                "@let" => {
                    let l = lits().map_err(err)?;
                    let [v, t] = l.as_slice() else {
                        return Err(err("usage: @let NAME[:hex|:dec] \"text {} text\"".into()));
                    };
                    let (var, conv) = match v.split_once(':') {
                        None => (v.clone(), Conv::None),
                        Some((n, "hex")) => (n.to_string(), Conv::DecToHex),
                        Some((n, "dec")) => (n.to_string(), Conv::HexToDec),
                        Some(_) => return Err(err("conversion is :hex or :dec".into())),
                    };
                    Action::Let {
                        var,
                        conv,
                        template: Template::parse(t).map_err(err)?,
                    }
                }
                "@mask" => {
                    let l = lits().map_err(err)?;
                    let [t] = l.as_slice() else {
                        return Err(err("usage: @mask \"text {} text\"".into()));
                    };
                    Action::Mask(Template::parse(t).map_err(err)?)
                }
                "@expect" => {
                    let l = lits().map_err(err)?;
                    let [t] = l.as_slice() else {
                        return Err(err("usage: @expect \"text\" (quote it)".into()));
                    };
                    Action::Expect(t.clone())
                }
                "@expect-exit" => {
                    let l = lits().map_err(err)?;
                    let code = match l.as_slice() {
                        [c] => c.parse().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| err("usage: @expect-exit N".into()))?;
                    Action::ExpectExit(code)
                }
                "@expect-fail" | "@sort" | "@uniq" | "@timed-verdict" => {
                    if !words.is_empty() {
                        return Err(err(format!("{directive} takes no arguments")));
                    }
                    match directive.as_str() {
                        "@sort" => Action::Sort,
                        "@uniq" => Action::Uniq,
                        "@timed-verdict" => Action::TimedVerdict,
                        _ => Action::ExpectFail,
                    }
                }
                other => return Err(err(format!("unknown directive {other}"))),
            };
            if matches!(
                action,
                Action::Expect(_)
                    | Action::ExpectExit(_)
                    | Action::ExpectFail
                    | Action::Sort
                    | Action::Uniq
                    | Action::TimedVerdict
                    | Action::Let { .. }
            ) && !scn
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::Ctl { .. } | Action::Stop { .. }))
            {
                return Err(err(format!("{directive} needs an earlier command")));
            }
            scn.steps.push(Step {
                line: lineno,
                source,
                action,
            });
        }
        if !scn
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Ctl { .. } | Action::Stop { .. }))
        {
            return Err(format!("{}: scenario has no command", path.display()));
        }
        Ok(scn)
    }

    /// Number of compared outputs (commands and `@stop`s).
    pub fn command_count(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.action, Action::Ctl { .. } | Action::Stop { .. }))
            .count()
    }
}

/// All scenarios of an area directory (sorted by file name).
pub fn load_area(area: &str) -> (Vec<Scenario>, Vec<String>) {
    let dir = scenarios_root().join(area);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().map(|x| x == "scn").unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut scns = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        match Scenario::load(&f, &format!("{area}/{stem}")) {
            Ok(s) => scns.push(s),
            Err(e) => errors.push(e),
        }
    }
    (scns, errors)
}

/// Area directories under tests/scenarios.
pub fn areas() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(scenarios_root())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Running one side
// ---------------------------------------------------------------------------------------

/// The normalised output of one command (or `@stop`).
#[derive(Debug, Clone)]
pub struct Record {
    pub line: usize,
    pub source: String,
    pub output: String,
}

/// What running a scenario against one server produced.
#[derive(Debug, Default)]
pub struct SideResult {
    pub label: String,
    pub records: Vec<Record>,
    /// Start/restart failures, failed `@expect`s, harness errors.
    pub errors: Vec<String>,
    pub log_tail: String,
    pub elapsed: Duration,
}

fn is_protobuf(args: &[Vec<u8>]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        let a = a.as_slice();
        a == b"--write-out=protobuf"
            || a == b"-w=protobuf"
            || a == b"-wprotobuf"
            || ((a == b"-w" || a == b"--write-out")
                && args.get(i + 1).map(|n| n == b"protobuf").unwrap_or(false))
    })
}

/// An expanded etcdctl command: the process to spawn, its arguments, its stdin.
type Prepared = (std::process::Command, Vec<Vec<u8>>, Option<Vec<u8>>);

struct Side<'a> {
    scn: &'a Scenario,
    cluster: Cluster,
    vars: HashMap<String, Vec<u8>>,
    norm: Normalizer,
    /// Background commands by id, with their protobuf flag.
    bgs: HashMap<String, (BgProcess, bool)>,
    target: Members,
    /// The previous command's raw output, normalised output and protobuf flag.
    last: Option<(CtlOutput, String, bool)>,
    res: SideResult,
}

impl Side<'_> {
    fn expand(&self, w: &Word) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for p in w {
            match p {
                Piece::Lit(b) => out.extend_from_slice(b),
                Piece::Var(v) => match self.vars.get(v) {
                    Some(b) => out.extend_from_slice(b),
                    None => return Err(format!("undefined variable ${{{v}}}")),
                },
            }
        }
        Ok(out)
    }

    fn endpoints(&self) -> String {
        match self.target {
            Members::All => self.cluster.endpoints().join(","),
            Members::One(i) => self.cluster.member(i).endpoint(),
        }
    }

    fn members(&self, m: Members) -> Result<Vec<usize>, String> {
        match m {
            Members::All => Ok((0..self.cluster.members.len()).collect()),
            Members::One(i) if i < self.cluster.members.len() => Ok(vec![i]),
            Members::One(i) => Err(format!(
                "no member {} (cluster has {})",
                i + 1,
                self.cluster.members.len()
            )),
        }
    }

    /// The etcdctl command for `args`, plus the expanded args and stdin.
    fn command(&self, args: &[Word], stdin: &Option<Word>) -> Result<Prepared, String> {
        let args: Vec<Vec<u8>> = args
            .iter()
            .map(|w| self.expand(w))
            .collect::<Result<_, _>>()?;
        if args.iter().any(|a| a.contains(&0)) {
            return Err("arguments cannot contain NUL bytes".into());
        }
        let stdin = stdin.as_ref().map(|w| self.expand(w)).transpose()?;
        let os: Vec<std::ffi::OsString> = args
            .iter()
            .cloned()
            .map(std::ffi::OsString::from_vec)
            .collect();
        let mut cmd = etcdctl_command(&self.endpoints(), &os);
        cmd.current_dir(self.cluster.dir());
        Ok((cmd, args, stdin))
    }

    fn record(&mut self, step: &Step, out: CtlOutput, protobuf: bool) {
        let normalized = self.norm.normalize(&out, protobuf);
        self.res.records.push(Record {
            line: step.line,
            source: step.source.clone(),
            output: normalized.clone(),
        });
        self.last = Some((out, normalized, protobuf));
    }

    fn error(&mut self, step: &Step, msg: String) {
        self.res
            .errors
            .push(format!("line {}: {}: {msg}", step.line, step.source));
    }

    /// Run one step; Err aborts the rest of the scenario on this side.
    fn step(&mut self, step: &Step) -> Result<(), String> {
        match &step.action {
            Action::Ctl { args, stdin } => match self.command(args, stdin) {
                Ok((mut cmd, args, stdin)) => {
                    let bg = BgProcess::spawn(&mut cmd, stdin.as_deref())
                        .map_err(|e| format!("spawn etcdctl: {e}"))?;
                    let out = bg.finish(self.scn.timeout);
                    self.record(step, out, is_protobuf(&args));
                }
                Err(e) => {
                    self.error(step, e.clone());
                    self.record(
                        step,
                        CtlOutput {
                            stderr: format!("harness: {e}").into_bytes(),
                            code: Some(-1),
                            ..Default::default()
                        },
                        false,
                    );
                }
            },
            Action::Bg { id, args, stdin } => {
                let (mut cmd, args, stdin) = self.command(args, stdin)?;
                let bg = match stdin {
                    Some(data) => BgProcess::spawn(&mut cmd, Some(&data)),
                    None => BgProcess::spawn_interactive(&mut cmd),
                }
                .map_err(|e| format!("spawn etcdctl: {e}"))?;
                if let Some((old, _)) = self.bgs.insert(id.clone(), (bg, is_protobuf(&args))) {
                    old.stop();
                }
            }
            Action::Stop { id } => {
                let Some((mut bg, pb)) = self.bgs.remove(id) else {
                    self.error(step, format!("{id} is not running"));
                    return Ok(());
                };
                bg.wait_quiet(BG_QUIET, BG_WAIT);
                let out = bg.stop();
                self.record(step, out, pb);
            }
            Action::Send { id, line } => {
                let mut line = self.expand(line)?;
                line.push(b'\n');
                let sent = match self.bgs.get_mut(id) {
                    Some((bg, _)) => bg.send(&line).map_err(|e| e.to_string()),
                    None => Err("not running".to_string()),
                };
                if let Err(e) = sent {
                    self.error(step, format!("@send {id}: {e}"));
                }
            }
            Action::Wait { id, text } => {
                let text = self.expand(text)?;
                let found = match self.bgs.get_mut(id) {
                    Some((bg, _)) => bg.wait_for(&text, BG_WAIT),
                    None => false,
                };
                if !found {
                    let so_far = self
                        .bgs
                        .get(id)
                        .map(|(b, _)| String::from_utf8_lossy(&b.stdout_so_far()).into_owned())
                        .unwrap_or_default();
                    self.error(
                        step,
                        format!(
                            "{:?} did not appear within {BG_WAIT:?}; output so far:\n{so_far}",
                            String::from_utf8_lossy(&text)
                        ),
                    );
                }
            }
            Action::Sleep(d) => thread::sleep(*d),
            Action::Kill(m) => {
                for i in self.members(*m)? {
                    self.cluster.kill9(i);
                }
            }
            Action::Start(m) => {
                let ms = self.members(*m)?;
                if ms.len() > 1 {
                    self.cluster.restart_all()?;
                } else {
                    for i in ms {
                        self.cluster.start_member(i)?;
                    }
                }
            }
            Action::Restart(m) => {
                let ms = self.members(*m)?;
                if ms.len() > 1 {
                    self.cluster.restart_all()?;
                } else {
                    for i in ms {
                        self.cluster.restart(i)?;
                    }
                }
            }
            Action::Use(m) => {
                self.members(*m)?;
                self.target = *m;
            }
            Action::Let {
                var,
                conv,
                template,
            } => {
                let stdout = self
                    .last
                    .as_ref()
                    .map(|(o, _, _)| o.stdout_str())
                    .unwrap_or_default();
                let Some(v) = template.capture(&stdout) else {
                    self.error(step, format!("no match in stdout:\n{stdout}"));
                    return Ok(());
                };
                // etcdctl right-aligns ids (`%16x`): a short one comes with a
                // leading blank that no command would accept back.
                let v = v.trim();
                let v = match conv {
                    Conv::None => v.to_string(),
                    Conv::DecToHex => match v.parse::<u64>() {
                        Ok(n) => format!("{n:x}"),
                        Err(_) => {
                            self.error(step, format!("{v:?} is not a decimal number"));
                            return Ok(());
                        }
                    },
                    Conv::HexToDec => match u64::from_str_radix(v, 16) {
                        Ok(n) => n.to_string(),
                        Err(_) => {
                            self.error(step, format!("{v:?} is not a hex number"));
                            return Ok(());
                        }
                    },
                };
                self.vars.insert(var.clone(), v.into_bytes());
            }
            Action::Mask(t) => self.norm.add_mask(t.clone()),
            Action::Expect(text) => {
                let out = self
                    .last
                    .as_ref()
                    .map(|(_, n, _)| n.clone())
                    .unwrap_or_default();
                if !out.contains(text.as_str()) {
                    self.error(
                        step,
                        format!(
                            "expected {text:?} in the output of the previous command, got:\n{out}"
                        ),
                    );
                }
            }
            Action::ExpectExit(code) => {
                let got = self.last.as_ref().and_then(|(o, _, _)| o.code);
                if got != Some(*code) {
                    self.error(
                        step,
                        format!("previous command exited {got:?}, expected {code}"),
                    );
                }
            }
            Action::Sort => {
                if let (Some((out, n, pb)), Some(r)) = (&mut self.last, self.res.records.last_mut())
                {
                    *n = self.norm.normalize_sorted(out, *pb);
                    r.output = n.clone();
                }
            }
            Action::Uniq => {
                if let (Some((_, n, _)), Some(r)) = (&mut self.last, self.res.records.last_mut()) {
                    *n = uniq_lines(n);
                    r.output = n.clone();
                }
            }
            Action::TimedVerdict => {
                let verdictless = self.last.as_ref().map(|(_, n, _)| drop_timed_verdict(n));
                match verdictless {
                    Some(Some(kept)) => {
                        if let (Some((_, n, _)), Some(r)) =
                            (&mut self.last, self.res.records.last_mut())
                        {
                            *n = kept;
                            r.output = n.clone();
                        }
                    }
                    _ => self.error(step, "previous command gave no PASS/FAIL verdict".into()),
                }
            }
            Action::ExpectFail => {
                let got = self.last.as_ref().and_then(|(o, _, _)| o.code);
                if got == Some(0) {
                    self.error(
                        step,
                        "previous command succeeded, expected a failure".into(),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Name each member's id `<memberN>` and the cluster id `<cluster>`, learnt from the header
/// of a Range answered by each member, so that ids compare equal whatever order they are
/// printed in.
fn preset_member_ids(cluster: &Cluster, norm: &mut Normalizer) {
    for (i, m) in cluster.members.iter().enumerate() {
        let out = super::ctl::etcdctl(
            &m.endpoint(),
            &["get", "oxcd-harness-probe", "-w", "json"],
            None,
            Duration::from_secs(10),
        );
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            continue;
        };
        let h = &v["header"];
        if let Some(id) = h["member_id"].as_u64() {
            norm.preset_id(id, &format!("<member{}>", i + 1));
        }
        if let Some(id) = h["cluster_id"].as_u64() {
            norm.preset_id(id, "<cluster>");
        }
    }
}

/// Run a scenario against a fresh server (or cluster) of `kind`.
pub fn run_side(scn: &Scenario, kind: ServerKind, label: &str) -> SideResult {
    let started = Instant::now();
    let mut res = SideResult {
        label: label.to_string(),
        ..Default::default()
    };
    let cluster = match Cluster::builder(kind)
        .members(scn.members)
        .args(&scn.flags)
        .try_start()
    {
        Ok(c) => c,
        Err(e) => {
            res.errors.push(format!("server start failed: {e}"));
            res.elapsed = started.elapsed();
            return res;
        }
    };
    let mut norm = Normalizer::new();
    preset_member_ids(&cluster, &mut norm);
    let dir = cluster.dir().to_string_lossy().to_string();
    norm.add_literal(&dir, "<dir>");
    let mut vars = HashMap::new();
    vars.insert("DIR".to_string(), dir.clone().into_bytes());
    vars.insert(
        "ENDPOINTS".to_string(),
        cluster.endpoints().join(",").into_bytes(),
    );
    vars.insert("ENDPOINT".to_string(), cluster.endpoint().into_bytes());
    for (i, m) in cluster.members.iter().enumerate() {
        norm.add_port(m.client_port, &format!("client{}", i + 1));
        norm.add_port(m.peer_port, &format!("peer{}", i + 1));
        vars.insert(format!("ENDPOINT{}", i + 1), m.endpoint().into_bytes());
    }
    let mut side = Side {
        scn,
        cluster,
        vars,
        norm,
        bgs: HashMap::new(),
        target: Members::One(0),
        last: None,
        res,
    };
    for step in &scn.steps {
        if let Err(e) = side.step(step) {
            side.error(step, format!("aborted: {e}"));
            break;
        }
    }
    for (_, (bg, _)) in side.bgs.drain() {
        bg.stop();
    }
    let mut res = side.res;
    res.log_tail = side.cluster.log_tails(40);
    drop(side.cluster);
    res.elapsed = started.elapsed();
    res
}

/// Everything that differs between the two sides (empty when the scenario passes).
pub fn compare(a: &SideResult, b: &SideResult) -> Vec<String> {
    let mut problems = Vec::new();
    for side in [a, b] {
        for e in &side.errors {
            problems.push(format!("[{}] {e}", side.label));
        }
    }
    let n = a.records.len().max(b.records.len());
    for i in 0..a.records.len().min(b.records.len()) {
        let (x, y) = (&a.records[i], &b.records[i]);
        if x.output != y.output {
            problems.push(format!(
                "line {}: {}\n{}",
                x.line,
                x.source,
                line_diff(&x.output, &y.output, &a.label, &b.label)
            ));
        }
    }
    for (ran, missed) in [(a, b), (b, a)] {
        if let Some(first) = ran.records.get(missed.records.len()) {
            problems.push(format!(
                "{} of {n} commands did not run on {} (from line {}: {})",
                ran.records.len() - missed.records.len(),
                missed.label,
                first.line,
                first.source
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Driving a test
// ---------------------------------------------------------------------------------------

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// True when `OXCD_DIFF_SELF_TEST=1`: etcd is compared with etcd.
pub fn self_test() -> bool {
    env_flag("OXCD_DIFF_SELF_TEST")
}

/// Does oxcd start and serve at all? Checked once per test binary so that a broken server
/// fails fast instead of once per scenario.
fn oxcd_preflight() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT
        .get_or_init(|| Cluster::builder(ServerKind::Oxcd).try_start().map(drop))
        .clone()
}

fn jobs() -> usize {
    std::env::var("OXCD_DIFF_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(4)
}

/// Run the scenarios of one area (tests/scenarios/<area>/*.scn), etcd vs oxcd.
pub fn run_area(area: &str) {
    run_areas(&format!("differential {area}"), &[area.to_string()]);
}

/// Run every area not in `known` (so new areas are tested without new test functions).
pub fn run_other_areas(known: &[&str]) {
    let others: Vec<String> = areas()
        .into_iter()
        .filter(|a| !known.contains(&a.as_str()))
        .collect();
    run_areas("differential (other areas)", &others);
}

fn run_areas(test: &str, areas: &[String]) {
    if !require_etcd(test) {
        return;
    }
    let mut scns = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for a in areas {
        let (s, errs) = load_area(a);
        scns.extend(s);
        failures.extend(errs.into_iter().map(|e| format!("=== BAD SCENARIO {e}")));
    }
    if let Ok(f) = std::env::var("OXCD_DIFF_FILTER") {
        scns.retain(|s| s.name.contains(&f));
    }
    if scns.is_empty() && failures.is_empty() {
        println!("{test}: no scenarios");
        return;
    }
    let selftest = self_test();
    let (b_kind, b_label) = if selftest {
        (ServerKind::Etcd, "etcd(self-test)")
    } else {
        (ServerKind::Oxcd, "oxcd")
    };
    if !selftest {
        if let Err(e) = oxcd_preflight() {
            panic!(
                "{test}: oxcd does not start, so none of the {} scenarios can run:\n{e}",
                scns.len()
            );
        }
    }
    let started = Instant::now();
    // jobs: (scenario index, side 0 = etcd, 1 = oxcd or etcd again)
    let total = scns.len() * 2;
    let results: Mutex<Vec<Option<SideResult>>> = Mutex::new((0..total).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..jobs().min(total) {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                if j >= total {
                    break;
                }
                let scn = &scns[j / 2];
                let (kind, label) = if j.is_multiple_of(2) {
                    (ServerKind::Etcd, "etcd")
                } else {
                    (b_kind, b_label)
                };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_side(scn, kind, label)
                }))
                .unwrap_or_else(|p| SideResult {
                    label: label.to_string(),
                    errors: vec![format!(
                        "harness panicked: {}",
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default()
                    )],
                    ..Default::default()
                });
                results.lock().unwrap()[j] = Some(r);
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    let verbose = env_flag("OXCD_DIFF_VERBOSE");
    let mut passed = 0;
    let mut commands = 0;
    for (i, scn) in scns.iter().enumerate() {
        let a = results[2 * i].take().unwrap();
        let b = results[2 * i + 1].take().unwrap();
        commands += scn.command_count();
        if verbose {
            println!(
                "--- {} ({}) outputs on {}:",
                scn.name,
                scn.path.display(),
                a.label
            );
            for r in &a.records {
                println!("  line {}: {}", r.line, r.source);
                for l in r.output.lines() {
                    println!("      {l}");
                }
            }
        }
        let problems = compare(&a, &b);
        if problems.is_empty() {
            passed += 1;
            println!(
                "ok   {} ({} commands; {:.1}s + {:.1}s)",
                scn.name,
                scn.command_count(),
                a.elapsed.as_secs_f64(),
                b.elapsed.as_secs_f64()
            );
            continue;
        }
        let mut report = format!(
            "=== FAIL {} ({}): {} problem(s), {} vs {}\n",
            scn.name,
            scn.path.display(),
            problems.len(),
            a.label,
            b.label
        );
        for p in &problems {
            report.push_str(&format!("--- {p}\n"));
        }
        if !a.errors.is_empty() {
            report.push_str(&a.log_tail);
        }
        report.push_str(&b.log_tail);
        println!("FAIL {}", scn.name);
        failures.push(report);
    }
    let failed = scns.len() - passed;
    let summary = format!(
        "{test}: {} scenarios ({} commands), {passed} passed, {failed} failed; {} vs {}; {:.1}s",
        scns.len(),
        commands,
        "etcd",
        b_label,
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        println!("{summary}");
        return;
    }
    for f in &failures {
        eprintln!("{f}");
    }
    panic!("{summary}; {} failure report(s) above", failures.len());
}
