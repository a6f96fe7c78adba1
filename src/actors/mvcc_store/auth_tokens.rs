//! Tokens follow the applied auth entries, on every member alike: an
//! Authenticate gets its token from the entry's index (so the proposer's
//! answer and every other member agree on it), a deleted user or a new
//! password ends the user's tokens, and turning auth off ends them all.

use crate::actors::auth::tokens::Tokens;
use crate::proto::etcdserverpb::InternalRaftRequest;
use crate::storage::apply::auth::AuthApplied;
use crate::storage::apply::ApplyResponse;

/// `request` was applied at raft `index` and answered `response`.
pub fn settle(
    tokens: &Tokens,
    index: u64,
    request: &InternalRaftRequest,
    response: &mut ApplyResponse,
) {
    let ApplyResponse::Auth(applied) = response else {
        return;
    };
    match applied {
        AuthApplied::Authenticate {
            response,
            user,
            revision,
        } => {
            let prefix = request
                .authenticate
                .as_ref()
                .map_or("", |r| r.simple_token.as_str());
            response.token = tokens.assign(prefix, index, user, *revision);
        }
        AuthApplied::UserDelete(_) => {
            if let Some(r) = &request.auth_user_delete {
                tokens.invalidate_user(&r.name);
            }
        }
        AuthApplied::UserChangePassword(_) => {
            if let Some(r) = &request.auth_user_change_password {
                tokens.invalidate_user(&r.name);
            }
        }
        AuthApplied::Disable(_) => tokens.clear(),
        _ => {}
    }
}
