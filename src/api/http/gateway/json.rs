//! proto3 JSON as etcd's gateway (grpc-gateway v1 with `OrigName`) reads
//! and writes it, for any message of oxcd's descriptor set: field names as
//! in the .proto files (`cluster_id`, `TTL`, `dbSize`), 64-bit integers as
//! strings, bytes as base64, enums by name, default values left out. Input
//! takes names or numbers, strings or numbers, and ignores unknown fields,
//! as etcd's gateway does.

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // Built into the binary by build.rs from proto/: cannot fail to
        // decode unless the build is broken.
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap_or_default()
    })
}

/// The JSON body of a request as the protobuf bytes of `message` (an
/// empty body is the empty message).
pub fn to_protobuf(message: &str, json: &[u8]) -> Result<Vec<u8>, String> {
    let descriptor = pool()
        .get_message_by_name(message)
        .ok_or_else(|| format!("no message type {message}"))?;
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let mut input = serde_json::Deserializer::from_slice(json);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic = DynamicMessage::deserialize_with_options(descriptor, &mut input, &options)
        .map_err(|e| e.to_string())?;
    input.end().map_err(|e| e.to_string())?;
    Ok(dynamic.encode_to_vec())
}

/// Every JSON value in a streaming request body, in order.
pub fn to_protobuf_stream(message: &str, json: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let values = serde_json::Deserializer::from_slice(json).into_iter::<serde_json::Value>();
    let mut out = Vec::new();
    for value in values {
        let value = value.map_err(|e| e.to_string())?;
        out.push(to_protobuf(message, value.to_string().as_bytes())?);
    }
    Ok(out)
}

/// The protobuf bytes of `message` as etcd's gateway writes them.
pub fn to_json(message: &str, protobuf: &[u8]) -> Result<String, String> {
    let descriptor = pool()
        .get_message_by_name(message)
        .ok_or_else(|| format!("no message type {message}"))?;
    let dynamic = DynamicMessage::decode(descriptor, protobuf).map_err(|e| e.to_string())?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(true)
        .skip_default_fields(true);
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    dynamic
        .serialize_with_options(&mut serializer, &options)
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// grpc-gateway's error body, its keys in its order:
/// `{"error":..,"message":..,"code":..}`.
pub fn error_body(code: tonic::Code, message: &str) -> String {
    let text = quoted(message);
    format!(
        r#"{{"error":{text},"message":{text},"code":{}}}"#,
        code as i32
    )
}

fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// grpc-gateway's error chunk in a stream.
pub fn stream_error_chunk(code: tonic::Code, message: &str) -> String {
    let http = http_status(code);
    format!(
        r#"{{"error":{{"grpc_code":{},"http_code":{},"message":{},"http_status":{}}}}}"#,
        code as i32,
        http.as_u16(),
        quoted(message),
        quoted(http.canonical_reason().unwrap_or(""))
    )
}

/// grpc-gateway v1's HTTP status for a gRPC code.
pub fn http_status(code: tonic::Code) -> http::StatusCode {
    use http::StatusCode as H;
    use tonic::Code as C;
    match code {
        C::Ok => H::OK,
        C::Cancelled => H::REQUEST_TIMEOUT,
        C::InvalidArgument | C::OutOfRange => H::BAD_REQUEST,
        C::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        C::NotFound => H::NOT_FOUND,
        C::AlreadyExists | C::Aborted => H::CONFLICT,
        C::PermissionDenied => H::FORBIDDEN,
        C::Unauthenticated => H::UNAUTHORIZED,
        C::ResourceExhausted => H::TOO_MANY_REQUESTS,
        C::FailedPrecondition => H::PRECONDITION_FAILED,
        C::Unimplemented => H::NOT_IMPLEMENTED,
        C::Unavailable => H::SERVICE_UNAVAILABLE,
        C::Unknown | C::Internal | C::DataLoss => H::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{PutRequest, RangeResponse, ResponseHeader};
    use crate::proto::mvccpb::KeyValue;

    #[test]
    fn requests_read_names_numbers_and_base64() {
        let bytes = to_protobuf(
            "etcdserverpb.PutRequest",
            br#"{"key":"Zm9v","value":"YmFy","lease":"7","prevKv":true,"bogus":1}"#,
        )
        .unwrap();
        let put = PutRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(put.key, b"foo");
        assert_eq!(put.value, b"bar");
        assert_eq!(put.lease, 7);
        assert!(put.prev_kv);
        assert!(to_protobuf("etcdserverpb.PutRequest", b"")
            .unwrap()
            .is_empty());
        assert!(to_protobuf("etcdserverpb.PutRequest", br#"{"lease":"x"}"#).is_err());
    }

    #[test]
    fn errors_read_as_grpc_gateways() {
        assert_eq!(
            error_body(tonic::Code::Unknown, "\"leader\" field must be provided"),
            r#"{"error":"\"leader\" field must be provided","message":"\"leader\" field must be provided","code":2}"#
        );
        assert_eq!(
            stream_error_chunk(tonic::Code::NotFound, "x"),
            r#"{"error":{"grpc_code":5,"http_code":404,"message":"x","http_status":"Not Found"}}"#
        );
    }

    #[test]
    fn responses_are_written_as_etcds_gateway_writes_them() {
        let response = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 3,
                raft_term: 4,
            }),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                value: b"bar".to_vec(),
                create_revision: 2,
                mod_revision: 3,
                version: 1,
                ..Default::default()
            }],
            count: 1,
            more: false,
        };
        let json = to_json("etcdserverpb.RangeResponse", &response.encode_to_vec()).unwrap();
        assert_eq!(
            json,
            r#"{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"1","value":"YmFy"}],"count":"1"}"#
        );
    }
}
