//! Opening the gRPC connections: `--conns` tonic channels spread round-robin over the
//! endpoints, all dialed up front so that a bad endpoint fails before the run starts.

use futures::future::try_join_all;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// `host:port` becomes `http://host:port`; URLs with a scheme (http or
/// https) are kept.
pub fn endpoint_url(endpoint: &str) -> Result<String, String> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err("empty endpoint".into());
    }
    if endpoint.contains("://") {
        Ok(endpoint.to_string())
    } else {
        Ok(format!("http://{endpoint}"))
    }
}

/// Connection settings taken from the command line.
#[derive(Debug, Clone)]
pub struct Dial {
    pub connect_timeout: Duration,
    pub request_timeout: Option<Duration>,
    /// For https endpoints (`--cacert --cert --key`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Open `conns` channels; channel `i` goes to `endpoints[i % endpoints.len()]`.
pub async fn connect_all(
    endpoints: &[String],
    conns: u64,
    dial: Dial,
) -> Result<Vec<Channel>, String> {
    if endpoints.is_empty() {
        return Err("no endpoints given".into());
    }
    let mut targets = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let url = endpoint_url(endpoint)?;
        let mut target = Endpoint::from_shared(url.clone())
            .map_err(|e| format!("{endpoint}: invalid endpoint: {e}"))?
            .connect_timeout(dial.connect_timeout)
            .tcp_nodelay(true);
        if let Some(timeout) = dial.request_timeout {
            target = target.timeout(timeout);
        }
        targets.push((url, target));
    }
    let dial = &dial;
    try_join_all((0..conns).map(|i| {
        let (url, target) = &targets[(i % targets.len() as u64) as usize];
        async move {
            let connect = async {
                if !url.starts_with("https://") {
                    return target.connect().await;
                }
                let tls = dial.tls.clone();
                target
                    .connect_with_connector(tower::service_fn(move |uri| {
                        let tls = tls.clone();
                        async move {
                            let config = tls.ok_or_else(|| {
                                std::io::Error::other(
                                    "https endpoint: give --cacert (or --insecure-skip-tls-verify)",
                                )
                            })?;
                            oxcd::tls::dial(config, uri).await
                        }
                    }))
                    .await
            };
            tokio::time::timeout(dial.connect_timeout, connect)
                .await
                .map_err(|_| format!("{url}: connect timed out"))?
                .map_err(|e| format!("{url}: {}", error_chain(&e)))
        }
    }))
    .await
}

/// An error with its sources, e.g. "transport error: Connection refused (os error 111)".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            endpoint_url("127.0.0.1:2379").unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(endpoint_url(" http://h:1 ").unwrap(), "http://h:1");
        assert_eq!(endpoint_url("https://h:1").unwrap(), "https://h:1");
        assert!(endpoint_url("").is_err());
    }
}
