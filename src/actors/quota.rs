//! The quota actor: admits a request only if its encoded size is within
//! `--max-request-bytes`. (The backend-size quota and NOSPACE alarm arrive in
//! a later issue.)

use actix::prelude::*;

use super::{ServerError, ServerResult};

pub struct Quota {
    max_request_bytes: usize,
}

impl Quota {
    pub fn new(max_request_bytes: usize) -> Self {
        Quota { max_request_bytes }
    }
}

impl Actor for Quota {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
    }
}

/// May a proposal of `encoded_len` bytes go to raft?
#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct CheckQuota {
    pub encoded_len: usize,
}

impl Handler<CheckQuota> for Quota {
    type Result = ServerResult<()>;

    fn handle(&mut self, msg: CheckQuota, _: &mut Self::Context) -> Self::Result {
        if msg.encoded_len > self.max_request_bytes {
            return Err(ServerError::RequestTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn rejects_only_requests_over_the_limit() {
        let quota = Quota::new(100).start();
        assert!(quota
            .send(CheckQuota { encoded_len: 100 })
            .await
            .unwrap()
            .is_ok());
        let over = quota.send(CheckQuota { encoded_len: 101 }).await.unwrap();
        assert!(matches!(over, Err(ServerError::RequestTooLarge)));
    }
}
