//! `gateway-put` and `gateway-range`: the JSON gateway (`POST /v3/kv/put`,
//! `/v3/kv/range`) over HTTP/1.1 keep-alive connections, one per client,
//! spread over the endpoints: what HTTP clients without gRPC get.

use super::{KvData, Load, Outcome, Worker};
use crate::keys::Rng;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tonic::transport::Channel;
use tonic::Status;

pub enum GatewayOp {
    Put(KvData),
    Range(Vec<u8>),
}

pub struct GatewayLoad {
    endpoints: Vec<String>,
    op: std::sync::Arc<GatewayOp>,
}

impl GatewayLoad {
    pub fn new(endpoints: &[String], op: GatewayOp) -> Self {
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let e = e.trim_start_matches("http://");
                e.trim_end_matches('/').to_string()
            })
            .collect();
        GatewayLoad {
            endpoints,
            op: std::sync::Arc::new(op),
        }
    }
}

impl Load for GatewayLoad {
    type Worker = GatewayWorker;

    fn name(&self) -> &'static str {
        match *self.op {
            GatewayOp::Put(_) => "gateway-put",
            GatewayOp::Range(_) => "gateway-range",
        }
    }

    async fn worker(&self, client: u64, _channel: Channel) -> Result<GatewayWorker, String> {
        let endpoint = self.endpoints[(client as usize) % self.endpoints.len()].clone();
        let stream = TcpStream::connect(&endpoint)
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(GatewayWorker {
            endpoint,
            conn: BufReader::new(stream),
            op: self.op.clone(),
            rng: Rng::seeded(client),
        })
    }
}

pub struct GatewayWorker {
    endpoint: String,
    conn: BufReader<TcpStream>,
    op: std::sync::Arc<GatewayOp>,
    rng: Rng,
}

impl Worker for GatewayWorker {
    async fn request(&mut self, n: u64) -> Outcome {
        let (path, body) = match &*self.op {
            GatewayOp::Put(data) => {
                let key = data.keys.key(data.keys.pick(n, &mut self.rng));
                let value = data.values.get(n);
                (
                    "/v3/kv/put",
                    format!(
                        r#"{{"key":"{}","value":"{}"}}"#,
                        base64(&key),
                        base64(value)
                    ),
                )
            }
            GatewayOp::Range(key) => ("/v3/kv/range", format!(r#"{{"key":"{}"}}"#, base64(key))),
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.endpoint,
            body.len()
        );
        let io = |e: std::io::Error| Status::unavailable(e.to_string());
        self.conn
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(io)?;
        let (status, body) = read_response(&mut self.conn).await.map_err(io)?;
        if status != 200 {
            return Err(Status::unknown(String::from_utf8_lossy(&body).to_string()));
        }
        Ok(None)
    }
}

/// One HTTP/1.1 response: its status and body (Content-Length or chunked).
async fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        }
        if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0u8; size + 2];
            conn.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        conn.read_exact(&mut body).await?;
    }
    Ok((status, body))
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_is_standard() {
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"f"), "Zg==");
    }
}
