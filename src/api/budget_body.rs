//! Keeps a large Range's share of the memory budget until its answer has left
//! the process. tonic encodes the whole message into one buffer and hyper
//! would take it in one piece (the body then ends at once while h2 still
//! holds the bytes for a slow client), so the body hands the buffer on in
//! slices of [`SLICE`] bytes, which hyper takes only as the connection's
//! flow control lets them out; the share goes when the last slice and the
//! trailers have been taken, or when the client goes away.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use crate::actors::range_budget::BudgetHold;

/// The most of a held answer handed to hyper at once.
const SLICE: usize = 1 << 20;

#[derive(Clone, Copy, Default)]
pub struct BudgetBodyLayer;

impl<S> Layer<S> for BudgetBodyLayer {
    type Service = BudgetBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BudgetBodyService { inner }
    }
}

#[derive(Clone)]
pub struct BudgetBodyService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BudgetBodyService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<BudgetBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let hold = response.extensions_mut().remove::<BudgetHold>();
            Ok(response.map(|inner| BudgetBody {
                inner,
                pending: Bytes::new(),
                hold,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    pub struct BudgetBody<B> {
        #[pin]
        inner: B,
        // What is left of the last data frame.
        pending: Bytes,
        hold: Option<BudgetHold>,
    }
}

impl<B: Body<Data = Bytes>> Body for BudgetBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if this.hold.is_none() {
            return this.inner.poll_frame(cx);
        }
        if this.pending.has_remaining() {
            let n = this.pending.len().min(SLICE);
            return Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(n)))));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let n = data.len().min(SLICE);
                    let first = data.split_to(n);
                    *this.pending = data;
                    Poll::Ready(Some(Ok(Frame::data(first))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Poll::Ready(None) => {
                this.hold.take();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.pending.is_empty() {
            self.inner.size_hint()
        } else {
            SizeHint::default()
        }
    }
}
