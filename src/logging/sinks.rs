//! `--log-outputs`: every log line goes to each output given (stderr,
//! stdout, files opened for appending).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogOutput;

enum Sink {
    Stderr,
    Stdout,
    File(File),
}

/// The outputs, as tracing-subscriber's writer factory.
#[derive(Clone)]
pub struct Sinks(Arc<Vec<Sink>>);

impl Sinks {
    /// Opens the files among `outputs` (created if missing, appended to).
    pub fn open(outputs: &[LogOutput]) -> io::Result<Sinks> {
        let mut sinks = Vec::with_capacity(outputs.len());
        for output in outputs {
            sinks.push(match output {
                LogOutput::Stderr => Sink::Stderr,
                LogOutput::Stdout => Sink::Stdout,
                LogOutput::File(path) => Sink::File(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                        })?,
                ),
            });
        }
        Ok(Sinks(Arc::new(sinks)))
    }

    /// Colours only when every output is a terminal (a file or pipe gets
    /// plain text).
    pub fn all_terminals(&self) -> bool {
        use std::io::IsTerminal as _;
        self.0.iter().all(|sink| match sink {
            Sink::Stderr => io::stderr().is_terminal(),
            Sink::Stdout => io::stdout().is_terminal(),
            Sink::File(_) => false,
        })
    }
}

impl<'a> MakeWriter<'a> for Sinks {
    type Writer = SinksWriter<'a>;

    fn make_writer(&'a self) -> SinksWriter<'a> {
        SinksWriter(&self.0)
    }
}

/// Writes each buffer (one formatted event) whole to every output; one
/// failing output does not keep the line from the others.
pub struct SinksWriter<'a>(&'a [Sink]);

impl Write for SinksWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut first_error = None;
        for sink in self.0 {
            let result = match sink {
                Sink::Stderr => io::stderr().lock().write_all(buf),
                Sink::Stdout => io::stdout().lock().write_all(buf),
                // O_APPEND: one write per event keeps lines whole.
                Sink::File(file) => (&*file).write_all(buf),
            };
            if let Err(err) = result {
                first_error.get_or_insert(err);
            }
        }
        match first_error {
            Some(err) if self.0.len() == 1 => Err(err),
            _ => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reaches_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, "earlier\n").unwrap();
        let sinks = Sinks::open(&[LogOutput::File(a.clone()), LogOutput::File(b.clone())]).unwrap();
        assert!(!sinks.all_terminals());
        sinks.make_writer().write_all(b"one line\n").unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "earlier\none line\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "one line\n");
    }

    #[test]
    fn an_unopenable_file_is_named() {
        let err = Sinks::open(&[LogOutput::File("/nonexistent-dir/x.log".into())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("/nonexistent-dir/x.log: "), "{err}");
    }
}
