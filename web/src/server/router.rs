//! Routes for applications (what Klein and axum give): `Router::new().get("/users/{id}",
//! show_user)`, with path parameters, query and form decoding (serde_urlencoded), JSON in and
//! out (serde_json), shared state, and handlers that return anything [`IntoResponse`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use torsion_web::server::router::{Ctx, Router};
//! use torsion_web::server::reply::{HttpError, Json};
//!
//! struct App { greeting: String }
//!
//! async fn hello(ctx: Ctx<App>) -> Result<String, HttpError> {
//!     let name = ctx.param("name").ok_or_else(|| HttpError::bad_request("no name"))?;
//!     Ok(format!("{}, {name}!", ctx.state.greeting))
//! }
//!
//! let router = Router::with_state(App { greeting: "Hello".into() })
//!     .get("/hello/{name}", hello)
//!     .get("/health", |_ctx| async { Json(serde_json::json!({"ok": true})) });
//! ```
//!
//! Patterns are `/`-separated segments: literal, `{name}` (one segment, percent-decoded), or a
//! final `{*name}` (the rest of the path). Literal routes win over parameters at the same
//! place, then the order of registration. HEAD is answered by the GET route (without the
//! body); a path that exists for other methods gets 405 with `Allow`; OPTIONS gets 204 with
//! `Allow`; anything else the fallback (404 unless [`Router::fallback`] says otherwise).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use super::reply::{HttpError, IntoResponse};
use super::{Body, ConnInfo, Handler, RequestBody};

/// Default bound on a JSON or form body read by [`Ctx::json`] / [`Ctx::form`].
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;

/// What a route handler gets: the request, its path parameters and the shared state.
#[derive(Debug)]
pub struct Ctx<S> {
    /// The request (its body not read yet).
    pub req: Request<RequestBody>,
    /// The shared state.
    pub state: Arc<S>,
    params: Vec<(String, String)>,
}

impl<S> Ctx<S> {
    /// The path parameter `name`, percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter `name` parsed as `T` (400 if missing or unparsable).
    pub fn param_as<T: std::str::FromStr>(&self, name: &str) -> Result<T, HttpError> {
        let raw = self
            .param(name)
            .ok_or_else(|| HttpError::bad_request(format!("missing {name}")))?;
        raw.parse()
            .map_err(|_| HttpError::bad_request(format!("bad {name}: {raw:?}")))
    }

    /// The query string decoded into `T` (400 if it does not fit).
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_urlencoded::from_str(self.req.uri().query().unwrap_or(""))
            .map_err(|e| HttpError::bad_request(format!("query: {e}")))
    }

    /// The connection the request came on.
    pub fn conn(&self) -> Option<&ConnInfo> {
        self.req.extensions().get::<ConnInfo>()
    }

    /// A request field as text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, up to `limit` bytes (413 beyond, 400 for broken framing).
    pub async fn body(self, limit: u64) -> Result<Bytes, HttpError> {
        Ok(self.req.into_body().collect(limit).await?)
    }

    /// The body as JSON (`application/json` required: 415 otherwise; 400 if it does not
    /// parse into `T`), up to [`DEFAULT_BODY_LIMIT`].
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, HttpError> {
        if !self.content_type_is("application/json") {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/json",
            ));
        }
        let body = self.body(DEFAULT_BODY_LIMIT).await?;
        serde_json::from_slice(&body).map_err(|e| HttpError::bad_request(format!("JSON: {e}")))
    }

    /// The body as an HTML form (`application/x-www-form-urlencoded`; 415 otherwise, 400 if
    /// it does not fit `T`), up to [`DEFAULT_BODY_LIMIT`].
    pub async fn form<T: DeserializeOwned>(self) -> Result<T, HttpError> {
        if !self.content_type_is("application/x-www-form-urlencoded") {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/x-www-form-urlencoded",
            ));
        }
        let body = self.body(DEFAULT_BODY_LIMIT).await?;
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| HttpError::bad_request(format!("form: {e}")))
    }

    fn content_type_is(&self, mime: &str) -> bool {
        self.header(header::CONTENT_TYPE).is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(mime))
        })
    }
}

/// Path parameters as (name, decoded value).
type Params = Vec<(String, String)>;
type RouteFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
type RouteFn<S> = Arc<dyn Fn(Ctx<S>) -> RouteFuture + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

struct Route<S> {
    method: Method,
    pattern: Vec<Segment>,
    handler: RouteFn<S>,
}

/// A table of routes with shared state `S`; see the [module docs](self).
pub struct Router<S = ()> {
    routes: Vec<Route<S>>,
    state: Arc<S>,
    fallback: Option<RouteFn<S>>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|r| format!("{} {:?}", r.method, r.pattern))
            .collect();
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}

impl Router<()> {
    /// No routes, no state.
    pub fn new() -> Self {
        Router::with_state(())
    }
}

impl Default for Router<()> {
    fn default() -> Self {
        Router::new()
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    let segments: Vec<&str> = pattern
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .enumerate()
        .map(
            |(i, s)| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if name.starts_with('*') => {
                    assert!(
                        i == last,
                        "{pattern}: {{*{}}} must be the last segment",
                        &name[1..]
                    );
                    Segment::Rest(name[1..].to_owned())
                }
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal((*s).to_owned()),
            },
        )
        .collect()
}

/// Match `path` against `pattern`: the parameters, and a score (literals first).
fn matches(pattern: &[Segment], path: &str) -> Option<(Vec<(String, String)>, usize)> {
    let parts: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut params = Vec::new();
    let mut literals = 0;
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Segment::Rest(name) => {
                let rest: Vec<String> = parts
                    .get(i..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|p| decode(p))
                    .collect::<Option<_>>()?;
                params.push((name.clone(), rest.join("/")));
                return Some((params, literals));
            }
            Segment::Literal(lit) => {
                if parts.get(i) != Some(&lit.as_str()) {
                    return None;
                }
                literals += 1;
            }
            Segment::Param(name) => {
                params.push((name.clone(), decode(parts.get(i)?)?));
            }
        }
    }
    (parts.len() == pattern.len()).then_some((params, literals))
}

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// `Router::get` and its siblings: [`Router::route`] with the method filled in.
macro_rules! method_routes {
    ($($(#[$doc:meta])* $name:ident => $method:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name<F, Fut, R>(self, pattern: &str, handler: F) -> Self
            where
                F: Fn(Ctx<S>) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = R> + Send + 'static,
                R: IntoResponse,
            {
                self.route(Method::$method, pattern, handler)
            }
        )*
    };
}

impl<S: Send + Sync + 'static> Router<S> {
    /// No routes, with `state` shared by every handler.
    pub fn with_state(state: S) -> Self {
        Router {
            routes: Vec::new(),
            state: Arc::new(state),
            fallback: None,
        }
    }

    /// Answer `method` on `pattern` with `handler`.
    pub fn route<F, Fut, R>(mut self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(Ctx<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let handler: RouteFn<S> = Arc::new(move |ctx| {
            let fut = handler(ctx);
            Box::pin(async move { fut.await.into_response() })
        });
        self.routes.push(Route {
            method,
            pattern: parse_pattern(pattern),
            handler,
        });
        self
    }

    method_routes! {
        /// GET (and HEAD) `pattern`.
        get => GET,
        /// POST `pattern`.
        post => POST,
        /// PUT `pattern`.
        put => PUT,
        /// DELETE `pattern`.
        delete => DELETE,
        /// PATCH `pattern`.
        patch => PATCH,
    }

    /// What answers requests no route matches (default: 404).
    pub fn fallback<F, Fut, R>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.fallback = Some(Arc::new(move |ctx| {
            let fut = handler(ctx);
            Box::pin(async move { fut.await.into_response() })
        }));
        self
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    fn dispatch(&self, req: Request<RequestBody>) -> RouteFuture {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let lookup = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        let mut best: Option<(&Route<S>, Params, usize)> = None;
        let mut allowed: Vec<&Method> = Vec::new();
        for route in &self.routes {
            let Some((params, score)) = matches(&route.pattern, &path) else {
                continue;
            };
            if !allowed.contains(&&route.method) {
                allowed.push(&route.method);
            }
            if route.method == lookup && best.as_ref().is_none_or(|(_, _, s)| score > *s) {
                best = Some((route, params, score));
            }
        }
        if let Some((route, params, _)) = best {
            let ctx = Ctx {
                req,
                state: self.state.clone(),
                params,
            };
            return (route.handler)(ctx);
        }
        if !allowed.is_empty() {
            let mut list: Vec<String> = allowed.iter().map(|m| m.to_string()).collect();
            if list.iter().any(|m| m == "GET") {
                list.push("HEAD".into());
            }
            list.push("OPTIONS".into());
            let allow = HeaderValue::from_str(&list.join(", "))
                .unwrap_or(HeaderValue::from_static("OPTIONS"));
            let mut resp = if method == Method::OPTIONS {
                let mut r = Response::new(Body::Empty);
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            } else {
                HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").into_response()
            };
            resp.headers_mut().insert(header::ALLOW, allow);
            return Box::pin(async move { resp });
        }
        match &self.fallback {
            Some(f) => f(Ctx {
                req,
                state: self.state.clone(),
                params: Vec::new(),
            }),
            None => Box::pin(async { HttpError::not_found("Not found").into_response() }),
        }
    }
}

impl<S: Send + Sync + 'static> Handler for Router<S> {
    fn call(&self, req: Request<RequestBody>) -> impl Future<Output = Response<Body>> + Send {
        self.dispatch(req)
    }
}

/// Parameters as a map (for handlers that want them all).
pub fn params_map<S>(ctx: &Ctx<S>) -> HashMap<&str, &str> {
    ctx.params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_params_and_rest() {
        let p = parse_pattern("/users/{id}/posts/{post}");
        let (params, score) = matches(&p, "/users/42/posts/caf%C3%A9").expect("match");
        assert_eq!(
            params,
            [("id".into(), "42".into()), ("post".into(), "café".into())]
        );
        assert_eq!(score, 2);
        assert!(matches(&p, "/users/42/posts").is_none());
        assert!(matches(&p, "/users/42/posts/1/extra").is_none());
        let rest = parse_pattern("/files/{*path}");
        let (params, _) = matches(&rest, "/files/a/b%20c").expect("match");
        assert_eq!(params, [("path".into(), "a/b c".into())]);
        assert!(matches(&parse_pattern("/"), "/").is_some());
        assert!(matches(&parse_pattern("/x/{id}"), "/x/%ff").is_none());
    }
}
