//! The export on the Workers runtime: the [`ExportStore`] over D1, the
//! `/export/*` handler (its own auth rule, `crate::http::export`) and the
//! archive part of `/health`.

use serde_json::{Map, Value};
use worker::{console_error, console_log, D1Database, D1Type, Env, Request, Response};

use super::{d1, error_response, json_response, read_body, DB_BINDING};
use crate::auth::PresentedCredentials;
use crate::config::archive::ArchiveConfig;
use crate::config::Config;
use crate::export::service::{self, ArchiveHealth, ExportError};
use crate::export::store::{ExportStore, StoreError};
use crate::export::{AckRow, Param, Query, SELECT_ACKS};
use crate::http::auth::AuthRefusal;
use crate::http::error::ApiError;
use crate::http::export::{self as routes, ExportCaller, ExportRoute};
use crate::http::gate;

/// The export's queries run on D1.
pub struct D1Export<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn bind(params: &[Param]) -> Vec<D1Type<'_>> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(n) => d1::int(*n),
            Param::Text(s) => d1::text(s),
        })
        .collect()
}

impl ExportStore for D1Export<'_> {
    async fn rows(&self, q: &Query) -> Result<Vec<Map<String, Value>>, StoreError> {
        let rows: Vec<Value> = d1::rows(self.0, &q.sql, &bind(&q.params))
            .await
            .map_err(d1_err)?;
        rows.into_iter()
            .map(|r| match r {
                Value::Object(m) => Ok(m),
                _ => Err(StoreError("a D1 row that is not an object".into())),
            })
            .collect()
    }

    async fn count(&self, q: &Query) -> Result<u64, StoreError> {
        let rows = self.rows(q).await?;
        rows.first()
            .and_then(|r| r.get("n"))
            .and_then(Value::as_u64)
            .ok_or_else(|| StoreError("count without n".into()))
    }

    async fn execute(&self, q: &Query) -> Result<(), StoreError> {
        d1::statement(self.0, &q.sql, &bind(&q.params))
            .map_err(d1_err)?
            .run()
            .await
            .map(|_| ())
            .map_err(d1_err)
    }

    async fn acks(&self) -> Result<Vec<AckRow>, StoreError> {
        d1::rows(self.0, SELECT_ACKS, &[]).await.map_err(d1_err)
    }
}

fn log(event: &str, fields: Value, error: bool) {
    let mut line = serde_json::json!({ "event": event });
    if let (Some(obj), Value::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    if error {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
}

fn export_error(context: &str, table: &str, e: &ExportError) -> Response {
    if let ExportError::Store(_) = e {
        log(
            "export_error",
            serde_json::json!({ "context": context, "table": table, "error": e.to_string() }),
            true,
        );
    }
    error_response(&routes::error_reply(e))
}

/// Serves one `/export/*` request (call it for every path
/// [`routes::is_export_path`] accepts, BEFORE the general auth gate).
/// `config` is `None` when the Worker's configuration is invalid.
pub async fn handle(
    req: &mut Request,
    env: &Env,
    config: Option<(&Config, &ArchiveConfig)>,
    now_ms: i64,
) -> Response {
    let method = req.method().to_string();
    let path = req.path();
    let query = req.url().ok().and_then(|u| u.query().map(str::to_owned));
    let authorization = req.headers().get("Authorization").ok().flatten();
    let presented = PresentedCredentials::from_headers(authorization.as_deref(), None);
    let tokens = config.map(|(cfg, archive)| (cfg.api_token.as_str(), archive.token.as_deref()));
    let caller = match routes::authenticate(&presented, tokens) {
        Ok(c) => c,
        Err(refusal) => {
            if refusal == AuthRefusal::Misconfigured {
                log(
                    "export_refused",
                    serde_json::json!({ "reason": "configuration invalid" }),
                    true,
                );
            }
            return error_response(&refusal.into());
        }
    };
    let route = match routes::route(&method, &path, query.as_deref()) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    if let Err(e) = routes::permit(&route, caller) {
        return error_response(&e);
    }
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            log(
                "export_error",
                serde_json::json!({ "context": "d1 binding", "error": e.to_string() }),
                true,
            );
            return error_response(&ApiError::internal());
        }
    };
    let store = D1Export(&db);
    match route {
        ExportRoute::Page {
            table,
            after,
            limit,
        } => match service::page(&store, table, after.as_deref(), limit, now_ms).await {
            Ok(page) => json_response(200, &page),
            Err(e) => export_error("page", table.name, &e),
        },
        ExportRoute::Ack { table } => {
            // The state-change gate: JSON content type, no foreign Origin
            // (the archiver is a bearer client), bounded body.
            let header = |name: &str| req.headers().get(name).ok().flatten();
            let (content_type, origin, content_length) = (
                header("Content-Type"),
                header("Origin"),
                header("Content-Length"),
            );
            let own_origin = req
                .url()
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            let head = gate::RequestHead {
                method: &method,
                content_type: content_type.as_deref(),
                origin: origin.as_deref(),
                content_length: content_length.as_deref(),
                own_origin: &own_origin,
                bearer_authenticated: caller == ExportCaller::Archiver,
            };
            let allowed: &[String] = config.map_or(&[], |(c, _)| &c.allowed_origins);
            if let Err(e) = gate::check_head(&head, allowed) {
                return error_response(&e.into());
            }
            let body = match read_body(req).await.and_then(|b| routes::parse_ack(&b)) {
                Ok(b) => b,
                Err(e) => return error_response(&e),
            };
            match service::ack(&store, table, &body.through, now_ms).await {
                Ok(reply) => {
                    log(
                        "export_ack",
                        serde_json::json!({ "table": table.name, "acked_through": reply.acked_through }),
                        false,
                    );
                    json_response(200, &reply)
                }
                Err(e) => export_error("ack", table.name, &e),
            }
        }
    }
}

/// The archive part of `/health` (no archiver: says so and reads nothing).
pub async fn archive_health(db: Option<&D1Database>, archive: &ArchiveConfig) -> ArchiveHealth {
    match db {
        Some(db) => service::health(&D1Export(db), archive).await,
        None => service::health(&Unbound, archive).await,
    }
}

/// No D1 binding: every read fails (health then says the state is unavailable).
struct Unbound;

impl ExportStore for Unbound {
    async fn rows(&self, _: &Query) -> Result<Vec<Map<String, Value>>, StoreError> {
        Err(StoreError("D1 not bound".into()))
    }
    async fn count(&self, _: &Query) -> Result<u64, StoreError> {
        Err(StoreError("D1 not bound".into()))
    }
    async fn execute(&self, _: &Query) -> Result<(), StoreError> {
        Err(StoreError("D1 not bound".into()))
    }
    async fn acks(&self) -> Result<Vec<AckRow>, StoreError> {
        Err(StoreError("D1 not bound".into()))
    }
}
