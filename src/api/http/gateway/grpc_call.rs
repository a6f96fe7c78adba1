//! A gRPC call made in-process to the server's own services (the same
//! `Routes` the gRPC listener serves): the request's messages framed as
//! gRPC frames, the response read back as messages and a status. The
//! gateway thus runs every check and answer a gRPC client gets.

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http_body_util::BodyExt;
use tonic::service::Routes;
use tower::ServiceExt;

/// One step of a response: a message, or the final status.
pub enum Part {
    Message(Bytes),
    Status(tonic::Status),
}

/// Calls `rpc` with `messages` (then the end of the request stream) and
/// the caller's token; a stream of the response's parts ending with its
/// status.
pub async fn call(
    routes: Routes,
    rpc: &str,
    messages: Vec<Vec<u8>>,
    token: Option<String>,
) -> impl Stream<Item = Part> + Send {
    let mut body = BytesMut::new();
    for message in &messages {
        body.extend_from_slice(&[0]);
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(message);
    }
    let mut request = http::Request::post(format!("http://oxcd{rpc}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers");
    if let Some(token) = token {
        request = request.header("token", token);
    }
    let request = request.body(tonic::body::Body::new(http_body_util::Full::new(
        body.freeze(),
    )));
    let response = match request {
        Ok(request) => routes.oneshot(request).await,
        Err(e) => {
            return futures::stream::iter(vec![Part::Status(tonic::Status::invalid_argument(
                e.to_string(),
            ))])
            .left_stream()
        }
    };
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    read_parts(response).right_stream()
}

/// The messages of a gRPC response body as they arrive, then its status
/// (from the trailers, or the headers of a trailers-only answer).
fn read_parts(response: http::Response<tonic::body::Body>) -> impl Stream<Item = Part> + Send {
    let (head, body) = response.into_parts();
    let early = tonic::Status::from_header_map(&head.headers);
    futures::stream::unfold(
        (Some(body), BytesMut::new(), early),
        |(body, mut buffer, early)| async move {
            let mut body = body?;
            loop {
                if let Some(message) = take_message(&mut buffer) {
                    return Some((Part::Message(message), (Some(body), buffer, early)));
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            let status = tonic::Status::from_header_map(trailers)
                                .unwrap_or_else(|| tonic::Status::new(tonic::Code::Ok, ""));
                            return Some((Part::Status(status), (None, buffer, None)));
                        }
                        if let Ok(data) = frame.into_data() {
                            buffer.extend_from_slice(&data);
                        }
                    }
                    Some(Err(status)) => return Some((Part::Status(status), (None, buffer, None))),
                    None => {
                        let status = early
                            .clone()
                            .unwrap_or_else(|| tonic::Status::new(tonic::Code::Ok, ""));
                        return Some((Part::Status(status), (None, buffer, None)));
                    }
                }
            }
        },
    )
}

/// A whole gRPC frame's message out of `buffer`, if one is there.
fn take_message(buffer: &mut BytesMut) -> Option<Bytes> {
    if buffer.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() < 5 + len {
        return None;
    }
    buffer.advance(5);
    Some(buffer.split_to(len).freeze())
}
