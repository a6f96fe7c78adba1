//! The hottest gRPC service called without the router. Every request on the
//! client port goes through one axum router (gRPC, /health, /metrics, the
//! gateway), which for each call matches the path, allocates its wildcard
//! parameter and a map for it, and boxes the request and response bodies
//! again. KV calls (every Put and Range) skip all of that: a path under the
//! service's prefix goes straight to the service, as the router would have
//! sent it; anything else goes to the router.

use std::task::{Context, Poll};

use futures::future::Either;
use http::Request;
use tower::{Layer, Service};

#[derive(Clone)]
pub struct DirectRouteLayer<D> {
    /// `/<package>.<Service>/`, e.g. `/etcdserverpb.KV/`.
    prefix: String,
    direct: D,
}

impl<D> DirectRouteLayer<D> {
    /// Calls under `/<service_name>/` go to `direct`.
    pub fn new(service_name: &str, direct: D) -> Self {
        DirectRouteLayer {
            prefix: format!("/{service_name}/"),
            direct,
        }
    }
}

impl<S, D: Clone> Layer<S> for DirectRouteLayer<D> {
    type Service = DirectRoute<S, D>;

    fn layer(&self, router: S) -> Self::Service {
        DirectRoute {
            prefix: self.prefix.clone(),
            direct: self.direct.clone(),
            router,
        }
    }
}

#[derive(Clone)]
pub struct DirectRoute<S, D> {
    prefix: String,
    direct: D,
    router: S,
}

impl<S, D, B> Service<Request<B>> for DirectRoute<S, D>
where
    S: Service<Request<B>>,
    D: Service<Request<B>, Response = S::Response, Error = S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<D::Future, S::Future>;

    /// Ready when both are (tonic's services and its router always are).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.direct.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.router.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.uri().path().starts_with(&self.prefix) {
            Either::Left(self.direct.call(request))
        } else {
            Either::Right(self.router.call(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    async fn routed_to(path: &str) -> &'static str {
        let answer = |name: &'static str| {
            tower::service_fn(move |_: Request<()>| async move { Ok::<_, Infallible>(name) })
        };
        let service =
            DirectRouteLayer::new("etcdserverpb.KV", answer("direct")).layer(answer("router"));
        let request = Request::builder().uri(path).body(()).expect("request");
        service.oneshot(request).await.expect("infallible")
    }

    #[tokio::test]
    async fn only_the_services_own_calls_skip_the_router() {
        assert_eq!(routed_to("/etcdserverpb.KV/Put").await, "direct");
        assert_eq!(routed_to("/etcdserverpb.KV/Range").await, "direct");
        // Another service, a name that only starts alike, HTTP paths.
        assert_eq!(routed_to("/etcdserverpb.KVX/Put").await, "router");
        assert_eq!(routed_to("/etcdserverpb.Lease/LeaseGrant").await, "router");
        assert_eq!(routed_to("/etcdserverpb.KV").await, "router");
        assert_eq!(routed_to("/health").await, "router");
        assert_eq!(routed_to("/v3/kv/put").await, "router");
    }
}
