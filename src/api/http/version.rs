//! `/version`: etcd 3.5's `{"etcdserver":..,"etcdcluster":..}`.

use axum::body::Body;
use axum::extract::State;
use http::{Method, Response};

use super::{only_get, with_content_type, HttpContext};
use crate::version::{ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION};

pub async fn version(State(_): State<HttpContext>, method: Method) -> Response<Body> {
    if let Some(refused) = only_get(&method) {
        return refused;
    }
    // etcd's field order (a Go struct), which a JSON map would not keep.
    let body = format!(
        r#"{{"etcdserver":"{ETCD_SERVER_VERSION}","etcdcluster":"{ETCD_CLUSTER_VERSION}"}}"#
    );
    with_content_type(body, "application/json")
}
