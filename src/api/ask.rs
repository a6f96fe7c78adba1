//! One way for the services to ask an actor that answers a `Result`: both
//! a closed mailbox and the actor's own error become the API's error (and
//! so etcd's status, in `error.rs`).

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Message};

use super::ApiError;
use crate::actors::ServerError;

pub async fn ask<A, M, T, E>(actor: &Addr<A>, msg: M) -> Result<T, ApiError>
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message<Result = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    ServerError: From<E>,
{
    actor
        .send(msg)
        .await
        .map_err(<ServerError as From<actix::MailboxError>>::from)?
        .map_err(|err| ApiError::from(ServerError::from(err)))
}
