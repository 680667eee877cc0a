//! Which endpoint a path on the check listener names.
//!
//! clustercheck under xinetd answered the Galera verdict on every path, and HAProxy configs rely
//! on that (`option httpchk` sends `/`), so `/` and every path we do not reserve stay the Galera
//! check. But a mistyped check for another subsystem (`/RabbitMQ`, `/vip/`) must never silently
//! report database health: a path whose first segment is reserved, in any case and with or
//! without a trailing slash, answers that endpoint or 404 with the list of valid paths. The
//! routing is ours rather than axum's because axum matches paths exactly and case-sensitively.

use std::net::SocketAddr;

use super::check::plain;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;

/// Whether /status, /metrics and /ui are served on the check listener or moved to their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    /// The default single-port setup.
    Here,
    /// `listen.metrics` is set: the pages live at this address only.
    MovedTo(SocketAddr),
}

/// The pages served by [`super::pages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Status,
    Metrics,
    Ui,
    /// The cluster as this daemon and its peers see it (`[peers]`).
    Cluster,
}

impl Page {
    fn path(self) -> &'static str {
        match self {
            Page::Status => "/status",
            Page::Metrics => "/metrics",
            Page::Ui => "/ui",
            Page::Cluster => "/cluster",
        }
    }
}

/// What a request on the check listener is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Galera,
    Rabbitmq,
    Pacemaker,
    /// `/writer`: 200 on at most one node (docs/writer.md).
    Writer,
    /// `/writer/backup`: the writer variant's backup lines (docs/writer.md).
    WriterBackup,
    Vip,
    /// `/vip/NAME`: NAME as given (VIP names are case-sensitive; only the segment `vip` is not).
    VipNamed(String),
    Page(Page),
    /// A page asked for on the check port while a metrics listener serves it.
    Moved(Page, SocketAddr),
    /// A page asked for with a method other than GET or HEAD.
    PageMethodNotAllowed,
    /// A reserved first segment with a path it does not serve.
    NotFound,
}

/// First path segments that never fall back to the Galera check (so a typo in HAProxy's check
/// path is a 404, not a silent Galera check).
pub const RESERVED: [&str; 9] = [
    "galera",
    "rabbitmq",
    "pacemaker",
    "vip",
    "status",
    "metrics",
    "ui",
    "cluster",
    "writer",
];

/// Route `path` (without its query) for `method`.
pub fn route(method: &Method, path: &str, pages: Pages) -> Route {
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let first = first.to_ascii_lowercase();
    if !RESERVED.contains(&first.as_str()) {
        // `/`, and everything clustercheck answered: a drop-in replacement keeps doing so.
        return Route::Galera;
    }
    // Trailing slashes are forgiven; anything else after a check's name is not a path we serve.
    let rest = rest.trim_end_matches('/');
    let page = |page: Page| {
        if !rest.is_empty() {
            return Route::NotFound;
        }
        if !(method == Method::GET || method == Method::HEAD) {
            return Route::PageMethodNotAllowed;
        }
        match pages {
            Pages::Here => Route::Page(page),
            Pages::MovedTo(address) => Route::Moved(page, address),
        }
    };
    match (first.as_str(), rest) {
        ("galera", "") => Route::Galera,
        ("rabbitmq", "") => Route::Rabbitmq,
        ("pacemaker", "") => Route::Pacemaker,
        ("writer", "") => Route::Writer,
        ("writer", "backup") => Route::WriterBackup,
        ("vip", "") => Route::Vip,
        ("vip", name) if !name.contains('/') => Route::VipNamed(name.to_owned()),
        ("status", _) => page(Page::Status),
        ("metrics", _) => page(Page::Metrics),
        ("ui", _) => page(Page::Ui),
        ("cluster", _) => page(Page::Cluster),
        _ => Route::NotFound,
    }
}

/// 404 with the list of valid paths, so whoever wrote the check sees what they meant.
pub fn not_found(path: &str, pages: Pages) -> Response {
    let pages_line = match pages {
        Pages::Here => "  /status, /metrics, /ui       JSON status, Prometheus metrics, a page for people\n\
                        \x20 /cluster                     JSON: every node as its daemon sees it ([peers])\n".to_owned(),
        Pages::MovedTo(address) => format!(
            "  /status, /metrics, /ui, /cluster   on the metrics listener http://{address} (listen.metrics)\n"
        ),
    };
    let body = format!(
        "No endpoint at {path:.128}. Valid paths on this port:\n\
         \x20 / or /galera                 Galera check (any other unreserved path too)\n\
         \x20 /rabbitmq                    RabbitMQ check\n\
         \x20 /pacemaker                   Pacemaker check\n\
         \x20 /vip, /vip/NAME              VIP checks (all VIPs, or the one named NAME)\n\
         \x20 /writer                      200 on the one writer node (the [writer] lease)\n\
         \x20 /writer/backup               the writer variant's backup lines ([writer])\n\
         {pages_line}"
    );
    plain(StatusCode::NOT_FOUND, body)
}

/// 404 saying where a page went when a metrics listener is configured.
pub fn moved(page: Page, address: SocketAddr) -> Response {
    plain(
        StatusCode::NOT_FOUND,
        format!(
            "{} is not served on the check port: it moved to the metrics listener, \
             http://{address}{} (listen.metrics).\n",
            page.path(),
            page.path()
        ),
    )
}

/// The pages are read-only documents: GET (and HEAD), as before the routing was ours.
pub fn method_not_allowed() -> Response {
    let mut response = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "Only GET and HEAD are served on this page.\n".to_owned(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Route {
        route(&Method::GET, path, Pages::Here)
    }

    #[test]
    fn reserved_segments_never_fall_back_to_galera() {
        assert_eq!(get("/rabbitmq/"), Route::Rabbitmq);
        assert_eq!(get("/RabbitMQ"), Route::Rabbitmq);
        assert_eq!(get("/vip/"), Route::Vip);
        assert_eq!(get("/VIP/vip"), Route::VipNamed("vip".into()));
        assert_eq!(get("/vip/a/b"), Route::NotFound);
        assert_eq!(get("/pacemaker/"), Route::Pacemaker);
        assert_eq!(get("/Status"), Route::Page(Page::Status));
        assert_eq!(get("/metrics/x"), Route::NotFound);
        assert_eq!(get("/Writer/"), Route::Writer);
        assert_eq!(get("/writer/x"), Route::NotFound);
        assert_eq!(get("/Writer/backup/"), Route::WriterBackup);
        assert_eq!(get("/writer/backup/x"), Route::NotFound);
        assert_eq!(get("/cluster"), Route::Page(Page::Cluster));
        assert_eq!(get("/Cluster/"), Route::Page(Page::Cluster));
        assert_eq!(get("/cluster/x"), Route::NotFound);
        assert_eq!(get("/galera/x"), Route::NotFound);
        assert_eq!(
            route(&Method::OPTIONS, "/metrics", Pages::Here),
            Route::PageMethodNotAllowed
        );
    }

    #[test]
    fn root_galera_and_unreserved_paths_are_the_galera_check() {
        for path in [
            "/",
            "",
            "/galera",
            "/GALERA/",
            "/anything/else",
            "/galeras",
            "/vips",
        ] {
            assert_eq!(get(path), Route::Galera, "{path}");
        }
    }

    #[test]
    fn pages_moved_with_a_metrics_listener() {
        let address = SocketAddr::from(([127, 0, 0, 1], 9201));
        assert_eq!(
            route(&Method::GET, "/METRICS/", Pages::MovedTo(address)),
            Route::Moved(Page::Metrics, address)
        );
    }
}
