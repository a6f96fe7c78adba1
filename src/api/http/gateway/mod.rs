//! etcd's JSON gateway on the client port (`--enable-grpc-gateway`, on by
//! default): `POST /v3/<service>/<method>` (and etcd 3.4's `/v3beta/`) with
//! a JSON body, answered in JSON as etcd's grpc-gateway answers. Each
//! request becomes an in-process gRPC call to the server's own services
//! (`grpc_call`), so auth, validation and errors are the gRPC API's.
//! `Authorization: <token>` carries an auth token. Streams (watch, lease
//! keep-alive, election observe, snapshot) answer one `{"result": ...}`
//! line per message, and an `{"error": {...}}` line if the stream fails.

mod grpc_call;
mod json;
mod table;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use futures::StreamExt;
use http::{header, HeaderValue, Method, StatusCode};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::service::Routes;

use grpc_call::{call, Part};
use table::{Route, Shape};

#[derive(Clone)]
struct Gateway {
    grpc: Routes,
    /// etcd's gateway shares one gRPC connection, so at most
    /// `--max-concurrent-streams` calls (watches included) run at once; a
    /// call over the limit waits, as on etcd.
    streams: Arc<Semaphore>,
    /// The largest request body read: JSON of a message as large as the
    /// gRPC services take (base64 makes bytes a third larger).
    max_body_bytes: usize,
}

/// Routes `/v3/*` and `/v3beta/*` to the gateway, calling `grpc`.
pub fn routes(
    grpc: Routes,
    max_concurrent_streams: Option<u32>,
    max_message_bytes: usize,
) -> axum::Router {
    let permits = max_concurrent_streams
        .map_or(Semaphore::MAX_PERMITS, |n| n as usize)
        .min(Semaphore::MAX_PERMITS);
    let state = Gateway {
        grpc,
        streams: Arc::new(Semaphore::new(permits)),
        max_body_bytes: max_message_bytes.saturating_mul(2),
    };
    axum::Router::new()
        .route("/v3/{*rest}", axum::routing::any(gateway))
        .route("/v3beta/{*rest}", axum::routing::any(gateway))
        .with_state(state)
}

#[tracing::instrument(name = "gateway", level = "debug", skip_all, fields(path = %request.uri().path()))]
async fn gateway(State(gateway): State<Gateway>, request: Request) -> Response<Body> {
    let Some(route) = table::find(request.uri().path()) else {
        return with_cors(plain(StatusCode::NOT_FOUND, "Not Found\n"));
    };
    if request.method() != Method::POST {
        return with_cors(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed\n",
        ));
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match axum::body::to_bytes(request.into_body(), gateway.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            let text = format!("request body larger than {} bytes", gateway.max_body_bytes);
            return with_cors(error(tonic::Code::ResourceExhausted, &text));
        }
    };
    let messages = match route.shape {
        Shape::BidiStream => json::to_protobuf_stream(route.input, &body),
        Shape::Unary | Shape::ServerStream => {
            json::to_protobuf(route.input, &body).map(|m| vec![m])
        }
    };
    let messages = match messages {
        Ok(messages) => messages,
        Err(text) => return with_cors(error(tonic::Code::InvalidArgument, &text)),
    };
    let Ok(permit) = gateway.streams.clone().acquire_owned().await else {
        return with_cors(error(
            tonic::Code::Unavailable,
            "etcdserver: server stopped",
        ));
    };
    let parts = call(gateway.grpc, route.rpc, messages, token).await;
    with_cors(match route.shape {
        Shape::Unary => unary(route, parts).await,
        Shape::ServerStream | Shape::BidiStream => stream(route, parts, permit).await,
    })
}

async fn unary(route: &Route, parts: impl futures::Stream<Item = Part> + Send) -> Response<Body> {
    let mut parts = std::pin::pin!(parts);
    let mut message: Option<Bytes> = None;
    while let Some(part) = parts.next().await {
        match part {
            Part::Message(m) => message = message.or(Some(m)),
            Part::Status(status) if status.code() != tonic::Code::Ok => {
                return error(status.code(), status.message());
            }
            Part::Status(_) => break,
        }
    }
    match json::to_json(route.output, &message.unwrap_or_default()) {
        Ok(text) => json_response(StatusCode::OK, Body::from(text)),
        Err(text) => error(tonic::Code::Internal, &text),
    }
}

/// One line per message; an error before the first message is answered
/// with its HTTP status, one after it as a last line.
async fn stream(
    route: &'static Route,
    parts: impl futures::Stream<Item = Part> + Send + 'static,
    permit: OwnedSemaphorePermit,
) -> Response<Body> {
    let mut parts = Box::pin(parts);
    let first = parts.next().await;
    if let Some(Part::Status(status)) = &first {
        if status.code() != tonic::Code::Ok {
            let body = json::stream_error_chunk(status.code(), status.message());
            return json_response(json::http_status(status.code()), Body::from(body));
        }
    }
    let lines = futures::stream::iter(first)
        .chain(parts)
        .filter_map(move |part| async move {
            match part {
                Part::Message(m) => Some(match json::to_json(route.output, &m) {
                    Ok(text) => format!("{{\"result\":{text}}}\n"),
                    Err(text) => json::stream_error_chunk(tonic::Code::Internal, &text) + "\n",
                }),
                Part::Status(s) if s.code() != tonic::Code::Ok => {
                    Some(json::stream_error_chunk(s.code(), s.message()))
                }
                Part::Status(_) => None,
            }
        })
        // The stream holds its slot until it ends.
        .map(move |line| {
            let _slot = &permit;
            Ok::<_, std::convert::Infallible>(Bytes::from(line))
        });
    json_response(StatusCode::OK, Body::from_stream(lines))
}

fn error(code: tonic::Code, message: &str) -> Response<Body> {
    json_response(
        json::http_status(code),
        Body::from(json::error_body(code, message)),
    )
}

fn json_response(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The CORS headers etcd puts on its HTTP answers.
fn with_cors(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("accept, content-type, authorization"),
    );
    response
}
