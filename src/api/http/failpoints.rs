//! `--features failpoints` only: arm and disarm failpoints while the server runs, as
//! gofail's HTTP endpoint does for etcd's robustness tests. `PUT /failpoints/NAME` with
//! the action as body (`return(crash)`, `sleep(200)`, `3*return(enospc)`, `off`), `DELETE`
//! to disarm, `GET` for the current action. Release builds have no such route.

use axum::body::Body;
use axum::extract::Path;
use http::{Method, Response, StatusCode};

pub fn routes() -> axum::Router {
    axum::Router::new().route("/failpoints/{name}", axum::routing::any(failpoint))
}

async fn failpoint(method: Method, Path(name): Path<String>, body: String) -> Response<Body> {
    let result = match method {
        Method::PUT => fail::cfg(name.as_str(), body.trim()).map(|()| String::new()),
        Method::DELETE => {
            fail::remove(name.as_str());
            Ok(String::new())
        }
        Method::GET => Ok(fail::list()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, action)| action)
            .unwrap_or_default()),
        _ => Err("PUT, DELETE or GET".to_string()),
    };
    match result {
        Ok(text) => Response::new(Body::from(text)),
        Err(e) => super::plain_error(StatusCode::BAD_REQUEST, &e),
    }
}
