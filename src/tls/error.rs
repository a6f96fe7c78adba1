//! What can be wrong with TLS settings, each naming the flag.

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS needs {0}")]
    Missing(String),
    #[error("{flag}: cannot read {path}: {source}")]
    Read {
        flag: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: {1}")]
    Invalid(String, String),
    #[error("--auto-tls: cannot make a self-signed certificate in {dir}: {reason}")]
    AutoTls { dir: String, reason: String },
}
