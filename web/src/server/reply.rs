//! What a route handler may return ([`IntoResponse`]): a `Response<Body>`, text, `(status,
//! body)`, [`Json`], [`Html`], [`Redirect`], an [`HttpError`] — or a `Result` of any two of
//! them, so handlers use `?` and their own error types.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::{error_response, Body};

/// Turns into a response.
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response<Body>;
}

impl IntoResponse for Response<Body> {
    fn into_response(self) -> Response<Body> {
        self
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    }
}

fn text(body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response<Body> {
        text(Body::from(self))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response<Body> {
        text(Body::from(self))
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response<Body> {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response<Body> {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// A JSON body (`application/json`), serialised with serde_json.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response<Body> {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut r = Response::new(Body::from(bytes));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            Err(e) => {
                HttpError::internal(format!("cannot serialise the response: {e}")).into_response()
            }
        }
    }
}

/// An HTML body (`text/html; charset=utf-8`), as given: escape what goes into it with
/// [`super::html_escape`].
#[derive(Debug, Clone)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(self.0.into());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    }
}

/// A redirect: 303 See Other (after a form POST) or 302/307/308.
#[derive(Debug, Clone)]
pub struct Redirect {
    status: StatusCode,
    location: String,
}

impl Redirect {
    /// 303 See Other: the client GETs `location` (the answer to a form POST).
    pub fn see_other(location: impl Into<String>) -> Self {
        Redirect {
            status: StatusCode::SEE_OTHER,
            location: location.into(),
        }
    }

    /// 307 Temporary Redirect (method and body kept).
    pub fn temporary(location: impl Into<String>) -> Self {
        Redirect {
            status: StatusCode::TEMPORARY_REDIRECT,
            location: location.into(),
        }
    }

    /// 308 Permanent Redirect (method and body kept).
    pub fn permanent(location: impl Into<String>) -> Self {
        Redirect {
            status: StatusCode::PERMANENT_REDIRECT,
            location: location.into(),
        }
    }
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = self.status;
        match HeaderValue::from_str(&self.location) {
            Ok(v) => {
                r.headers_mut().insert(header::LOCATION, v);
                r
            }
            Err(_) => HttpError::internal("redirect to an invalid location").into_response(),
        }
    }
}

/// An error with its status; the client sees a small HTML page with the message (use your
/// own type implementing [`IntoResponse`] for another shape, JSON say).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct HttpError {
    /// The status.
    pub status: StatusCode,
    /// What the client is told.
    pub message: String,
}

impl HttpError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 500 (the message is logged; the client gets a generic one).
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(%message, "internal error in a handler");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response<Body> {
        error_response(self.status, &self.message)
    }
}

impl From<crate::proto::BodyError> for HttpError {
    fn from(e: crate::proto::BodyError) -> Self {
        HttpError::new(e.status(), e.to_string())
    }
}
