//! The HTTP/1.1 endpoints etcd serves beside gRPC on its client port (and
//! on `--listen-metrics-urls`): `/health`, `/livez`, `/readyz`, `/version`
//! and `/metrics`, with etcd 3.5's paths, status codes and bodies.

pub mod access;
#[cfg(feature = "failpoints")]
mod failpoints;
pub mod gateway;
mod health;
mod metrics;
mod query;
mod version;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use axum::body::Body;
use axum::routing::any;
use http::{header, Method, Response, StatusCode};

use crate::actors::frontend::FrontEnd;
use crate::actors::mvcc_store::MvccReader;
use crate::actors::raft_node::RaftNode;
use crate::actors::status::RaftStatusBoard;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpContext {
    pub frontend: Addr<FrontEnd>,
    pub raft: Addr<RaftNode>,
    pub readers: Addr<MvccReader>,
    pub board: Arc<RaftStatusBoard>,
    pub local_id: u64,
    /// etcd's request timeout, the longest a health read may take.
    pub request_timeout: Duration,
}

/// The routes of the client port: everything etcd 3.5 serves there over
/// HTTP/1.1 (the JSON gateway comes with its own issue).
pub fn client_routes(ctx: HttpContext) -> axum::Router {
    with_failpoints(
        metrics_routes(ctx.clone()).merge(
            axum::Router::new()
                .route("/version", any(version::version))
                .with_state(ctx),
        ),
    )
}

/// The failpoint switches, in a build with failpoints.
#[cfg(feature = "failpoints")]
fn with_failpoints(routes: axum::Router) -> axum::Router {
    routes.merge(failpoints::routes())
}

#[cfg(not(feature = "failpoints"))]
fn with_failpoints(routes: axum::Router) -> axum::Router {
    routes
}

/// Adds the answer for a path nothing serves: gRPC's Unimplemented to a
/// gRPC call, Go's 404 page to anything else (tonic alone would answer a
/// browser with an empty gRPC response).
pub fn with_not_found(router: axum::Router) -> axum::Router {
    router.fallback(not_found)
}

async fn not_found(headers: http::HeaderMap) -> Response<Body> {
    let is_grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if is_grpc {
        return tonic::Status::unimplemented("").into_http();
    }
    plain_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// The routes of `--listen-metrics-urls`: metrics and health, as etcd.
pub fn metrics_routes(ctx: HttpContext) -> axum::Router {
    axum::Router::new()
        .route("/metrics", any(metrics::metrics_page))
        .route("/health", any(health::health))
        .route("/livez", any(health::livez))
        .route("/livez/{check}", any(health::livez_one))
        .route("/readyz", any(health::readyz))
        .route("/readyz/{check}", any(health::readyz_one))
        .with_state(ctx)
}

/// Go's `http.Error`: the text and a newline, as plain text.
fn plain_error(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

/// etcd answers every method but GET with 405 and `Allow: GET`.
fn only_get(method: &Method) -> Option<Response<Body>> {
    if method == Method::GET {
        return None;
    }
    let mut response = plain_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    Some(response)
}

fn with_content_type(body: impl Into<Body>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
