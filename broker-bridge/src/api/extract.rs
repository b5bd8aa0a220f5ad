//! Extractors whose rejections are JSON [`ApiError`]s instead of axum's
//! plain-text defaults.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::Path;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use sas_bridge_api::error::ErrorCode;

use super::error::ApiError;

/// Query string deserialized into `T`; malformed → 400 `invalid_query`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                e.body_text(),
            )),
            Err(e) => Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                e.body_text(),
            )),
        }
    }
}

/// JSON body deserialized into `T`: wrong content type → 415, syntax or shape
/// errors → 400 `invalid_body`, too large → 413.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::of(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad_request(ErrorCode::InvalidBody, e.body_text()))
            }
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad_request(ErrorCode::InvalidBody, e.body_text()))
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::of(
                    ErrorCode::BodyTooLarge,
                    "request body is too large",
                ))
            }
            Err(e) => Err(ApiError::bad_request(ErrorCode::InvalidBody, e.body_text())),
        }
    }
}

/// Path parameters deserialized into `T`; malformed (for example invalid
/// percent-encoding) → 400 `invalid_path`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPath, e.body_text()))
    }
}
