//! grpc-go's server metrics as etcd exposes them: `grpc_server_started_total`
//! when a call arrives, `grpc_server_handled_total` with its status code when
//! it ends, and (`--metrics extensive`) `grpc_server_handling_seconds`.
//!
//! A call's code is known only at its end: in the response headers when it
//! fails before answering (trailers-only), otherwise in the trailers after
//! the last message. So the response body is wrapped and the call counted
//! when its trailers pass, or as `Canceled` if the client goes away first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prometheus::{Histogram, IntCounter};
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

/// One method's counters, made once: a call then costs a map lookup under
/// a read lock and atomic increments, with no label hashing or allocation.
struct MethodMetrics {
    started: IntCounter,
    /// By gRPC status code (0..=16), made on first use.
    handled: [OnceLock<IntCounter>; 17],
    handling_seconds: Histogram,
    labels: [String; 3],
}

impl MethodMetrics {
    fn new(kind: &'static str, service: &str, method: &str) -> MethodMetrics {
        let labels = [kind.to_string(), service.to_string(), method.to_string()];
        let refs = [labels[0].as_str(), labels[1].as_str(), labels[2].as_str()];
        let grpc = &metrics().grpc;
        MethodMetrics {
            started: grpc.started_total.with_label_values(&refs),
            handled: std::array::from_fn(|_| OnceLock::new()),
            handling_seconds: grpc.handling_seconds.with_label_values(&refs),
            labels,
        }
    }

    fn handled(&self, code: i32) -> &IntCounter {
        let slot = usize::try_from(code).ok().filter(|c| *c < 17).unwrap_or(2);
        self.handled[slot].get_or_init(|| {
            let [kind, service, method] = &self.labels;
            metrics().grpc.handled_total.with_label_values(&[
                kind.as_str(),
                service.as_str(),
                method.as_str(),
                code_name(slot as i32),
            ])
        })
    }
}

static METHODS: LazyLock<RwLock<HashMap<String, Arc<MethodMetrics>>>> =
    LazyLock::new(Default::default);

/// The counters of the method at `path` (`/service/method`).
fn method_metrics(path: &str) -> Option<Arc<MethodMetrics>> {
    if let Some(found) = METHODS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(path)
    {
        return Some(found.clone());
    }
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    let made = Arc::new(MethodMetrics::new(
        call_kind(service, method),
        service,
        method,
    ));
    METHODS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(path.to_string())
        .or_insert(made)
        .clone()
        .into()
}

/// One gRPC call being counted.
struct GrpcCall {
    method: Arc<MethodMetrics>,
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
        let method = method_metrics(request.uri().path())?;
        method.started.inc();
        Some(GrpcCall {
            method,
            started: extensive.then(Instant::now),
        })
    }

    fn finish(self, code: i32) {
        self.method.handled(code).inc();
        if let Some(started) = self.started {
            self.method
                .handling_seconds
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
        assert_eq!(call.method.labels, ["unary", "etcdserverpb.KV", "Put"]);
        let before = call.method.handled(0).get();
        call.finish(0);
        let again = method_metrics("/etcdserverpb.KV/Put").unwrap();
        assert_eq!(again.handled(0).get(), before + 1);
        let http = Request::builder().uri("/health").body(()).unwrap();
        assert!(GrpcCall::of(&http, false).is_none());
    }
}
