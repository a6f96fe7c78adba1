//! `/health` (etcd's JSON verdict) and the `/livez` and `/readyz` probes of
//! etcd 3.5.11+, with their `?verbose`, `?exclude=` and per-check paths.
//!
//! etcd's logic: an active alarm (not excluded with `?exclude=NOSPACE`)
//! makes `/health` false and fails `/readyz`'s data_corruption check for
//! CORRUPT; no leader fails a linearizable check, and a one-key read must
//! succeed in the request timeout.

use axum::body::Body;
use axum::extract::{Path, State};
use http::{Method, Response, StatusCode, Uri};

use super::query;
use super::{only_get, plain_error, with_content_type, HttpContext};
use crate::actors::frontend::Read;
use crate::actors::ServerError;
use crate::api::ApiError;
use crate::metrics::metrics;
use crate::proto::etcdserverpb::{AlarmType, RangeRequest};

/// `/health`: `{"health":"true","reason":""}`, or 503 with the reason.
#[tracing::instrument(name = "http.health", skip_all)]
pub async fn health(State(ctx): State<HttpContext>, method: Method, uri: Uri) -> Response<Body> {
    if let Some(refused) = only_get(&method) {
        return refused;
    }
    let serializable = query::first(uri.query(), "serializable") == Some("true");
    let excluded = query::values(uri.query(), "exclude");
    let verdict = if let Some(alarm) = active_alarm(&ctx, |name| !excluded.contains(&name)).await {
        Err(format!("ALARM {alarm}"))
    } else if !serializable && ctx.board.read().leader == 0 {
        Err("RAFT NO LEADER".to_string())
    } else {
        read_one_key(&ctx, serializable)
            .await
            .map_err(|err| format!("RANGE ERROR:{err}"))
    };
    let (healthy, reason) = match verdict {
        Ok(()) => ("true", String::new()),
        Err(reason) => ("false", reason),
    };
    let body = serde_json::json!({ "health": healthy, "reason": reason });
    // Go marshals the struct's fields in order: health, then reason.
    let body = format!(
        r#"{{"health":{},"reason":{}}}"#,
        body["health"], body["reason"]
    );
    if healthy == "true" {
        metrics().health.success.inc();
        with_content_type(body, "text/plain; charset=utf-8")
    } else {
        metrics().health.failures.inc();
        tracing::warn!(output = %body, "/health error");
        plain_error(StatusCode::SERVICE_UNAVAILABLE, &body)
    }
}

/// The checks behind `/livez` and `/readyz`, in the order they print.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    DataCorruption,
    SerializableRead,
    LinearizableRead,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::DataCorruption => "data_corruption",
            Check::SerializableRead => "serializable_read",
            Check::LinearizableRead => "linearizable_read",
        }
    }

    async fn run(self, ctx: &HttpContext) -> Result<(), String> {
        match self {
            Check::DataCorruption => match active_alarm(ctx, |name| name == "CORRUPT").await {
                Some(alarm) => Err(format!("alarm activated: {alarm}")),
                None => Ok(()),
            },
            Check::SerializableRead => read_one_key(ctx, true).await,
            Check::LinearizableRead => read_one_key(ctx, false).await,
        }
    }
}

const LIVEZ: &[Check] = &[Check::SerializableRead];
const READYZ: &[Check] = &[
    Check::DataCorruption,
    Check::SerializableRead,
    Check::LinearizableRead,
];

pub async fn livez(State(ctx): State<HttpContext>, method: Method, uri: Uri) -> Response<Body> {
    probe(&ctx, "livez", LIVEZ, &method, &uri).await
}

pub async fn readyz(State(ctx): State<HttpContext>, method: Method, uri: Uri) -> Response<Body> {
    probe(&ctx, "readyz", READYZ, &method, &uri).await
}

pub async fn livez_one(
    State(ctx): State<HttpContext>,
    Path(check): Path<String>,
    method: Method,
    uri: Uri,
) -> Response<Body> {
    one_check(&ctx, "livez", LIVEZ, &check, &method, &uri).await
}

pub async fn readyz_one(
    State(ctx): State<HttpContext>,
    Path(check): Path<String>,
    method: Method,
    uri: Uri,
) -> Response<Body> {
    one_check(&ctx, "readyz", READYZ, &check, &method, &uri).await
}

async fn one_check(
    ctx: &HttpContext,
    kind: &str,
    checks: &[Check],
    name: &str,
    method: &Method,
    uri: &Uri,
) -> Response<Body> {
    match checks.iter().find(|c| c.name() == name) {
        Some(check) => run_checks(ctx, kind, &[*check], method, uri).await,
        None => plain_error(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// The root probe: every check but the `?exclude=`d ones.
async fn probe(
    ctx: &HttpContext,
    kind: &str,
    checks: &[Check],
    method: &Method,
    uri: &Uri,
) -> Response<Body> {
    let excluded = query::values(uri.query(), "exclude");
    let chosen: Vec<Check> = checks
        .iter()
        .copied()
        .filter(|c| !excluded.contains(&c.name()))
        .collect();
    run_checks(ctx, kind, &chosen, method, uri).await
}

#[tracing::instrument(name = "http.probe", skip(ctx, checks, method, uri))]
async fn run_checks(
    ctx: &HttpContext,
    kind: &str,
    checks: &[Check],
    method: &Method,
    uri: &Uri,
) -> Response<Body> {
    if let Some(refused) = only_get(method) {
        return refused;
    }
    let mut report = String::new();
    let mut failed = false;
    for check in checks {
        let (status, passed) = match check.run(ctx).await {
            Ok(()) => {
                report.push_str(&format!("[+]{} ok\n", check.name()));
                ("success", 1)
            }
            Err(err) => {
                failed = true;
                report.push_str(&format!("[-]{} failed: {err}\n", check.name()));
                ("error", 0)
            }
        };
        let health = &metrics().health;
        health
            .healthcheck
            .with_label_values(&[kind, check.name()])
            .set(passed);
        health
            .healthchecks_total
            .with_label_values(&[kind, check.name(), status])
            .inc();
    }
    if failed {
        tracing::error!(kind, reason = %report, "health check error");
        // etcd always writes the failed checks; Go's http.Error adds "\n".
        return plain_error(StatusCode::SERVICE_UNAVAILABLE, &report);
    }
    let verbose = query::first(uri.query(), "verbose").is_some();
    let body = if verbose {
        format!("{report}ok\n")
    } else {
        "ok\n".to_string()
    };
    let mut response = with_content_type(body, "text/plain; charset=utf-8");
    response.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// The name of the first active alarm `wanted` picks (`NOSPACE`,
/// `CORRUPT`, or `UNKNOWN` for another type), as this member applied them.
async fn active_alarm(ctx: &HttpContext, wanted: impl Fn(&str) -> bool) -> Option<&'static str> {
    let status = crate::api::header::backend_status(&ctx.readers)
        .await
        .ok()?;
    status.alarms.iter().find_map(|alarm| {
        let name = match AlarmType::try_from(alarm.alarm) {
            Ok(AlarmType::Nospace) => "NOSPACE",
            Ok(AlarmType::Corrupt) => "CORRUPT",
            _ => "UNKNOWN",
        };
        wanted(name).then_some(name)
    })
}

/// etcd's health read: one key, keys only, within the request timeout.
async fn read_one_key(ctx: &HttpContext, serializable: bool) -> Result<(), String> {
    let read = Read {
        request: RangeRequest {
            key: vec![0],
            keys_only: true,
            limit: 1,
            serializable,
            ..Default::default()
        },
        credentials: crate::actors::auth::Credentials::internal(),
    };
    let outcome = tokio::time::timeout(ctx.request_timeout, ctx.frontend.send(read)).await;
    let err = match outcome {
        Ok(Ok(Ok(_))) => return Ok(()),
        Ok(Ok(Err(err))) => ApiError::from(err),
        Ok(Err(mailbox)) => ApiError::from(ServerError::from(mailbox)),
        Err(_) => ApiError::from(ServerError::Timeout),
    };
    Err(tonic::Status::from(err).message().to_string())
}
