//! grpc-go (and so etcd) refuses a message over the receive limit with
//! RESOURCE_EXHAUSTED "grpc: received message larger than max (N vs. M)";
//! tonic says OUT_OF_RANGE with other words. This rewrites tonic's answer into
//! grpc-go's, so clients see what etcd would send.

use http::header::HeaderValue;
use http::Response;

const TONIC_PREFIX: &str = "Error, decoded message length too large: found ";
const GRPC_OUT_OF_RANGE: &str = "11";
const GRPC_RESOURCE_EXHAUSTED: &str = "8";

pub fn like_grpc_go<B>(mut response: Response<B>) -> Response<B> {
    let headers = response.headers_mut();
    if headers.get("grpc-status").and_then(|v| v.to_str().ok()) != Some(GRPC_OUT_OF_RANGE) {
        return response;
    }
    let Some(message) = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
    else {
        return response;
    };
    let Some((found, limit)) = parse_tonic_message(&message) else {
        return response;
    };
    let text = format!("grpc: received message larger than max ({found} vs. {limit})");
    if let Ok(value) = HeaderValue::from_str(&percent_encode(&text)) {
        headers.insert(
            "grpc-status",
            HeaderValue::from_static(GRPC_RESOURCE_EXHAUSTED),
        );
        headers.insert("grpc-message", value);
    }
    response
}

/// "Error, decoded message length too large: found N bytes, the limit is: M bytes"
fn parse_tonic_message(message: &str) -> Option<(u64, u64)> {
    let rest = message.strip_prefix(TONIC_PREFIX)?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    Some((found.parse().ok()?, limit.parse().ok()?))
}

/// grpc-message is percent-encoded (gRPC over HTTP/2 spec).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &str, message: &str) -> Response<()> {
        Response::builder()
            .header("grpc-status", status)
            .header("grpc-message", message)
            .body(())
            .unwrap()
    }

    #[test]
    fn tonic_size_error_becomes_grpc_go_resource_exhausted() {
        let tonic = "Error,%20decoded%20message%20length%20too%20large:%20found%20100%20bytes,%20the%20limit%20is:%2050%20bytes";
        let rewritten = like_grpc_go(response("11", tonic));
        assert_eq!(rewritten.headers()["grpc-status"], "8");
        let message = percent_decode(rewritten.headers()["grpc-message"].to_str().unwrap());
        assert_eq!(
            message,
            "grpc: received message larger than max (100 vs. 50)"
        );
    }

    #[test]
    fn other_statuses_pass_untouched() {
        let out_of_range = "etcdserver: mvcc: required revision has been compacted";
        let kept = like_grpc_go(response("11", out_of_range));
        assert_eq!(kept.headers()["grpc-status"], "11");
        assert_eq!(kept.headers()["grpc-message"], out_of_range);
    }
}
