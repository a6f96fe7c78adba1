//! Collecting a history while a load runs: one clock for everyone, a buffer per client
//! (no lock per request), merged when the client's buffer is dropped.

use super::{History, Operation, Snapshot, WatchStream};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

#[derive(Debug)]
pub struct Recorder {
    /// Off when the run writes no history: then nothing is kept.
    keep: bool,
    start: Instant,
    operations: Mutex<Vec<Operation>>,
    watches: Mutex<Vec<WatchStream>>,
    initial: Mutex<Snapshot>,
}

impl Recorder {
    pub fn new(keep: bool) -> Arc<Recorder> {
        Arc::new(Recorder {
            keep,
            start: Instant::now(),
            operations: Mutex::new(Vec::new()),
            watches: Mutex::new(Vec::new()),
            initial: Mutex::new(Snapshot::default()),
        })
    }

    /// Whether anything is kept (a run with `--record`).
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// Nanoseconds since the recorder was made.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn set_initial(&self, snapshot: Snapshot) {
        *self.initial.lock().unwrap_or_else(PoisonError::into_inner) = snapshot;
    }

    pub fn add_watch(&self, stream: WatchStream) {
        if !self.keep {
            return;
        }
        self.watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stream);
    }

    /// A buffer for one client; its operations join the history when it is dropped.
    pub fn client(self: &Arc<Self>, client: u64) -> ClientLog {
        ClientLog {
            recorder: Arc::clone(self),
            client,
            operations: Vec::new(),
        }
    }

    /// Everything recorded so far, operations in invocation order.
    pub fn history(&self, load: &str, prefix: &str) -> History {
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        operations.sort_by_key(|o| (o.invoke, o.client));
        History {
            load: load.to_string(),
            prefix: prefix.to_string(),
            initial: self
                .initial
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            operations,
            watches: self
                .watches
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// Write a history as JSON.
pub fn write(history: &History, path: &Path) -> Result<(), String> {
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    serde_json::to_writer(std::io::BufWriter::new(file), history)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Read a history written by [`write`].
pub fn read(path: &Path) -> Result<History, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| format!("{} is not a history: {e}", path.display()))
}

/// One client's operations, in the order it made them.
#[derive(Debug)]
pub struct ClientLog {
    recorder: Arc<Recorder>,
    client: u64,
    operations: Vec<Operation>,
}

impl ClientLog {
    pub fn now(&self) -> u64 {
        self.recorder.now()
    }

    pub fn client(&self) -> u64 {
        self.client
    }

    pub fn push(&mut self, operation: Operation) {
        if self.recorder.keep {
            self.operations.push(operation);
        }
    }
}

impl Drop for ClientLog {
    fn drop(&mut self) {
        self.recorder
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut self.operations);
    }
}
