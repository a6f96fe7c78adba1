//! The answer for RPCs whose feature is not built yet: gRPC Unimplemented,
//! never a fake success.

use tonic::Status;

pub fn not_built<T>(rpc: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "oxcd: {rpc} is not implemented yet"
    )))
}

/// Implements every listed unary rpc of a generated service trait as
/// `not_built`. Written in the shape `#[async_trait]` gives its methods,
/// because macro output inside an impl is not seen by that attribute.
macro_rules! not_built_rpcs {
    ($service:literal; $($method:ident($req:ty) -> $resp:ty;)*) => {
        $(
            fn $method<'life0, 'async_trait>(
                &'life0 self,
                _request: tonic::Request<$req>,
            ) -> ::std::pin::Pin<Box<
                dyn ::std::future::Future<Output = Result<tonic::Response<$resp>, tonic::Status>>
                    + Send
                    + 'async_trait,
            >>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move {
                    $crate::api::not_built::not_built(concat!($service, ".", stringify!($method)))
                })
            }
        )*
    };
}
pub(crate) use not_built_rpcs;
