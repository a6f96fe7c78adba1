//! grpc-go's server metrics as etcd exposes them: `grpc_server_started_total`
//! when a call arrives, `grpc_server_handled_total` with its status code when
//! it ends, and (`--metrics extensive`) `grpc_server_handling_seconds`.
//!
//! A call's code is known only at its end: in the response headers when it
//! fails before answering (trailers-only), otherwise in the trailers after
//! the last message. So the response body is wrapped and the call counted
//! when its trailers pass, or as `Canceled` if the client goes away first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use crate::metrics::metrics;

#[derive(Clone, Copy)]
pub struct GrpcMetricsLayer {
    pub extensive: bool,
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            extensive: self.extensive,
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    extensive: bool,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcMetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body,
{
    type Response = Response<CountedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let call = GrpcCall::of(&request, self.extensive);
        if let Some(call) = &call {
            metrics()
                .grpc
                .started_total
                .with_label_values(&call.labels())
                .inc();
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let mut call = call;
            if let Some(code) = grpc_code(response.headers()) {
                if let Some(call) = call.take() {
                    call.finish(code);
                }
            }
            Ok(response.map(|body| CountedBody { inner: body, call }))
        })
    }
}

/// One gRPC call being counted.
struct GrpcCall {
    kind: &'static str,
    service: String,
    method: String,
    started: Option<Instant>,
}

impl GrpcCall {
    /// None for what is not gRPC (the HTTP endpoints on the same port).
    fn of<B>(request: &Request<B>, extensive: bool) -> Option<GrpcCall> {
        let is_grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        if !is_grpc {
            return None;
        }
        let (service, method) = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split_once('/')?;
        Some(GrpcCall {
            kind: call_kind(service, method),
            service: service.to_string(),
            method: method.to_string(),
            started: extensive.then(Instant::now),
        })
    }

    fn labels(&self) -> [&str; 3] {
        [self.kind, &self.service, &self.method]
    }

    fn finish(self, code: i32) {
        let [kind, service, method] = self.labels();
        metrics()
            .grpc
            .handled_total
            .with_label_values(&[kind, service, method, code_name(code)])
            .inc();
        if let Some(started) = self.started {
            metrics()
                .grpc
                .handling_seconds
                .with_label_values(&[kind, service, method])
                .observe(crate::metrics::seconds_since(started));
        }
    }
}

/// grpc-go's `grpc_type` label for etcd's methods.
fn call_kind(service: &str, method: &str) -> &'static str {
    match (service, method) {
        ("etcdserverpb.Watch", "Watch") | ("etcdserverpb.Lease", "LeaseKeepAlive") => "bidi_stream",
        ("etcdserverpb.Maintenance", "Snapshot")
        | ("v3electionpb.Election", "Observe")
        | ("grpc.health.v1.Health", "Watch") => "server_stream",
        _ => "unary",
    }
}

fn grpc_code(headers: &HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// grpc-go's names for the status codes (the `grpc_code` label).
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "Canceled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

pin_project_lite::pin_project! {
    /// The response body; counts the call when its trailers pass.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        call: Option<GrpcCall>,
    }

    impl<B> PinnedDrop for CountedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Ended before its trailers: the client cancelled.
            if let Some(call) = this.project().call.take() {
                call.finish(1);
            }
        }
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(call) = this.call.take() {
                        call.finish(grpc_code(trailers).unwrap_or(2));
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(call) = this.call.take() {
                    call.finish(13);
                }
            }
            Poll::Ready(None) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_codes_use_grpc_gos_names() {
        assert_eq!(call_kind("etcdserverpb.Watch", "Watch"), "bidi_stream");
        assert_eq!(call_kind("etcdserverpb.KV", "Range"), "unary");
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(14), "Unavailable");
        assert_eq!(code_name(99), "Unknown");
    }

    #[test]
    fn only_grpc_requests_are_counted() {
        let grpc = Request::builder()
            .uri("/etcdserverpb.KV/Put")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let call = GrpcCall::of(&grpc, false).unwrap();
        assert_eq!(call.labels(), ["unary", "etcdserverpb.KV", "Put"]);
        let http = Request::builder().uri("/health").body(()).unwrap();
        assert!(GrpcCall::of(&http, false).is_none());
    }
}
