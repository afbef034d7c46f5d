//! What crosses the proxy in each direction's headers, without I/O: hop-by-hop headers
//! dropped (RFC 9110, 7.6.1), the client's own `X-Forwarded-*` and assertion replaced by
//! the proxy's (spellings with `_` too, which some servers read as the same variable),
//! Gatehouse's cookies kept from the app, an app's cookies kept on its own origin, and
//! redirects to the app's internal address turned into its public origin. And which
//! requests another site may not make ([`cross_site`]): every app and Gatehouse share
//! one registrable domain, so `SameSite` cookies alone do not keep one app's pages from
//! acting as the user on another.

use std::net::IpAddr;

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::assertion;

/// Cookies whose names start so are Gatehouse's (the app session and launch state on
/// the app's origin): never sent to an app, never set by one.
pub const COOKIE_PREFIX: &str = "__Host-gatehouse";

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the proxy says to the app besides what the browser sent.
pub struct Outgoing<'a> {
    /// The `Host` header for the app.
    pub host: &'a str,
    pub client_ip: IpAddr,
    /// The app's public `NAME.<host>[:port]`.
    pub public_authority: &'a str,
    /// The signed identity.
    pub assertion: &'a str,
}

/// Whether a request asks to become a WebSocket.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let connection = headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok());
    upgrade.eq_ignore_ascii_case("websocket")
        && connection.flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Headers only the proxy sets, by name with `_` read as `-`: the browser's are dropped.
fn reserved(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    name.starts_with("x-forwarded-")
        || name.starts_with("x-original-")
        || matches!(
            name.as_str(),
            "forwarded" | "x-real-ip" | "true-client-ip" | "x-client-ip" | "x-rewrite-url" | assertion::HEADER
        )
}

/// Why a request must not reach the app because another site's page made it, if it
/// must not: a WebSocket whose `Origin` is not the app's own, or a state-changing
/// request (not GET, HEAD or OPTIONS) that the browser says came from another site or
/// origin. Top-level navigations and reads from elsewhere still arrive (links work).
pub fn cross_site(method: &axum::http::Method, headers: &HeaderMap, public_origin: &str) -> Option<String> {
    use axum::http::Method;
    let origin = headers.get(header::ORIGIN).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if is_websocket_upgrade(headers) {
        return match origin {
            Some(origin) if origin == public_origin => None,
            Some(origin) => Some(origin),
            None => Some("a client that names no origin".to_string()),
        };
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let site = headers.get("sec-fetch-site").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(site) = site
        && site != "same-origin"
        && site != "none"
    {
        return Some(origin.unwrap_or(site));
    }
    origin.filter(|origin| origin != public_origin)
}

/// Drops hop-by-hop headers: the fixed ones and those `Connection` names.
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The `Cookie` header without Gatehouse's cookies; `None` if nothing is left. Read as
/// bytes: one cookie with a byte that is not ASCII must not hide the others.
fn cookies_for_app(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&[u8]> = headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty() && !c.starts_with(COOKIE_PREFIX.as_bytes()))
        .collect();
    if kept.is_empty() { None } else { HeaderValue::from_bytes(&kept.join(&b"; "[..])).ok() }
}

/// An app's `Set-Cookie`, kept on the app's own origin: `None` for Gatehouse's names and
/// for what is not text; a `Domain` attribute (which would reach Gatehouse and every
/// other app) taken out.
fn app_cookie(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    if text.trim_start().starts_with(COOKIE_PREFIX) {
        return None;
    }
    let mut parts = text.split(';');
    let mut kept: Vec<&str> = parts.next().into_iter().collect();
    kept.extend(
        parts.filter(|attr| !attr.split('=').next().is_some_and(|name| name.trim().eq_ignore_ascii_case("domain"))),
    );
    HeaderValue::from_str(&kept.join(";")).ok()
}

/// The headers of the request to the app, from the browser's.
pub fn to_app(incoming: &HeaderMap, out: &Outgoing<'_>) -> HeaderMap {
    let websocket = is_websocket_upgrade(incoming);
    let mut headers = incoming.clone();
    drop_hop_by_hop(&mut headers);
    let spoofable: Vec<HeaderName> = headers.keys().filter(|name| reserved(name.as_str())).cloned().collect();
    for name in spoofable {
        headers.remove(name);
    }
    headers.remove(header::COOKIE);
    if let Some(cookies) = cookies_for_app(incoming) {
        headers.insert(header::COOKIE, cookies);
    }
    if websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    let set = [
        (header::HOST, out.host.to_string()),
        (HeaderName::from_static("x-forwarded-for"), out.client_ip.to_string()),
        (HeaderName::from_static("x-forwarded-proto"), "https".to_string()),
        (HeaderName::from_static("x-forwarded-host"), out.public_authority.to_string()),
        (HeaderName::from_static(assertion::HEADER), out.assertion.to_string()),
    ];
    for (name, value) in set {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers
}

/// How the app's answer is rewritten for the browser.
pub struct Incoming<'a> {
    /// The app's internal `http://HOST[:PORT]`.
    pub internal_origin: &'a str,
    /// Its public `https://NAME.<host>[:port]`.
    pub public_origin: &'a str,
    pub rewrite_redirects: bool,
    /// The answer is the app's `101 Switching Protocols` to a WebSocket upgrade.
    pub upgraded: bool,
}

/// The headers of the app's answer, for the browser.
pub fn to_browser(headers: &mut HeaderMap, how: &Incoming<'_>) {
    let upgrade = headers.get(header::UPGRADE).cloned();
    // The body is framed again on the browser's side: a length beside a transfer coding
    // would cut it.
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    drop_hop_by_hop(headers);
    // It would sign the person out of Gatehouse and every app (one registrable domain).
    headers.remove("clear-site-data");
    if how.upgraded {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(upgrade) = upgrade {
            headers.insert(header::UPGRADE, upgrade);
        }
    }
    let kept: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().filter_map(app_cookie).collect();
    headers.remove(header::SET_COOKIE);
    for cookie in kept {
        headers.append(header::SET_COOKIE, cookie);
    }
    if how.rewrite_redirects
        && let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && let Some(rest) = location.strip_prefix(how.internal_origin)
        && (rest.is_empty() || rest.starts_with(['/', '?', '#']))
        && let Ok(public) = HeaderValue::from_str(&format!("{}{rest}", how.public_origin))
    {
        headers.insert(header::LOCATION, public);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn outgoing() -> Outgoing<'static> {
        Outgoing {
            host: "10.0.0.7:3000",
            client_ip: "192.0.2.5".parse().unwrap(),
            public_authority: "wiki.localhost:3080",
            assertion: "signed.jwt.here",
        }
    }

    #[test]
    fn the_browsers_own_assertion_and_forwarding_headers_are_replaced() {
        let sent = map(&[
            ("Gatehouse-Jwt-Assertion", "forged"),
            ("gatehouse-jwt-assertion", "forged-too"),
            ("X-Forwarded-For", "10.9.9.9"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "for=10.9.9.9"),
            ("Host", "wiki.localhost:3080"),
            ("Accept", "text/html"),
        ]);
        let out = to_app(&sent, &outgoing());
        let all = |name: &str| out.get_all(name).iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(all("gatehouse-jwt-assertion"), ["signed.jwt.here"]);
        assert_eq!(all("x-forwarded-for"), ["192.0.2.5"]);
        assert_eq!(all("x-forwarded-host"), ["wiki.localhost:3080"]);
        assert_eq!(all("x-forwarded-proto"), ["https"]);
        assert_eq!(all("host"), ["10.0.0.7:3000"]);
        assert!(all("forwarded").is_empty());
        assert_eq!(all("accept"), ["text/html"]);
    }

    #[test]
    fn gatehouse_cookies_never_reach_the_app() {
        let sent = map(&[("Cookie", "__Host-gatehouse_app=secret; theme=dark; __Host-gatehouse_app_state=s; sid=42")]);
        let out = to_app(&sent, &outgoing());
        assert_eq!(out.get(header::COOKIE).unwrap(), "theme=dark; sid=42");
        let only_ours = map(&[("Cookie", "__Host-gatehouse_app=secret")]);
        assert!(to_app(&only_ours, &outgoing()).get(header::COOKIE).is_none());
    }

    #[test]
    fn hop_by_hop_headers_stop_here_but_a_websocket_upgrade_goes_on() {
        let sent =
            map(&[("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "5"), ("TE", "trailers")]);
        let out = to_app(&sent, &outgoing());
        for gone in ["connection", "x-secret", "keep-alive", "te"] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
        let ws = map(&[("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "k")]);
        assert!(is_websocket_upgrade(&ws));
        let out = to_app(&ws, &outgoing());
        assert_eq!(out.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(out.get(header::CONNECTION).unwrap(), "upgrade");
        assert_eq!(out.get("sec-websocket-key").unwrap(), "k");
    }

    #[test]
    fn redirects_to_the_internal_address_become_the_public_origin() {
        let how = Incoming {
            internal_origin: "http://10.0.0.7:3000",
            public_origin: "https://wiki.localhost:3080",
            rewrite_redirects: true,
            upgraded: false,
        };
        let mut answer = map(&[("Location", "http://10.0.0.7:3000/login?next=/"), ("Transfer-Encoding", "chunked")]);
        to_browser(&mut answer, &how);
        assert_eq!(answer.get(header::LOCATION).unwrap(), "https://wiki.localhost:3080/login?next=/");
        assert!(answer.get(header::TRANSFER_ENCODING).is_none());
        let mut lookalike = map(&[("Location", "http://10.0.0.7:30000/")]);
        to_browser(&mut lookalike, &how);
        assert_eq!(lookalike.get(header::LOCATION).unwrap(), "http://10.0.0.7:30000/", "another port is not the app");
        let mut off = map(&[("Location", "http://10.0.0.7:3000/x")]);
        to_browser(&mut off, &Incoming { rewrite_redirects: false, ..how });
        assert_eq!(off.get(header::LOCATION).unwrap(), "http://10.0.0.7:3000/x");
    }

    fn how() -> Incoming<'static> {
        Incoming {
            internal_origin: "http://a",
            public_origin: "https://a.localhost",
            rewrite_redirects: true,
            upgraded: false,
        }
    }

    #[test]
    fn an_app_cannot_set_gatehouse_cookies_nor_cookies_beyond_its_origin() {
        let mut answer = map(&[
            ("Set-Cookie", "__Host-gatehouse_app=mine; Path=/"),
            ("Set-Cookie", "theme=dark"),
            ("Set-Cookie", "domain_pref=1; Path=/"),
            ("Set-Cookie", "sid=1; Domain=localhost; Path=/; HttpOnly"),
            ("Set-Cookie", "x=1; domain=.localhost"),
            ("Clear-Site-Data", "\"cookies\""),
        ]);
        answer.append(header::SET_COOKIE, HeaderValue::from_bytes(b"__Host-gatehouse_app=\xff; Path=/").unwrap());
        to_browser(&mut answer, &how());
        let cookies: Vec<_> = answer.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["theme=dark", "domain_pref=1; Path=/", "sid=1; Path=/; HttpOnly", "x=1"]);
        assert!(answer.get("clear-site-data").is_none());
    }

    #[test]
    fn spellings_with_underscores_and_other_forwarding_headers_are_dropped() {
        let sent = map(&[
            ("Gatehouse_Jwt_Assertion", "forged"),
            ("X-Forwarded_For", "10.9.9.9"),
            ("X-Forwarded-Port", "1"),
            ("X-Forwarded-User", "admin"),
            ("X-Original-URL", "/admin"),
            ("True-Client-IP", "10.9.9.9"),
            ("X-Request-Id", "keep-me"),
        ]);
        let out = to_app(&sent, &outgoing());
        let names: Vec<&str> = out.keys().map(|n| n.as_str()).collect();
        for gone in [
            "gatehouse_jwt_assertion",
            "x-forwarded_for",
            "x-forwarded-port",
            "x-forwarded-user",
            "x-original-url",
            "true-client-ip",
        ] {
            assert!(!names.contains(&gone), "{gone} in {names:?}");
        }
        assert_eq!(out.get("x-request-id").unwrap(), "keep-me");
        assert_eq!(out.get_all("gatehouse-jwt-assertion").iter().count(), 1);
    }

    #[test]
    fn a_cookie_that_is_not_ascii_does_not_hide_the_others() {
        let mut sent = HeaderMap::new();
        sent.insert(header::COOKIE, HeaderValue::from_bytes(b"n=\xc3\xa9; __Host-gatehouse_app=t; sid=4").unwrap());
        let out = to_app(&sent, &outgoing());
        assert_eq!(out.get(header::COOKIE).unwrap().as_bytes(), b"n=\xc3\xa9; sid=4");
    }

    #[test]
    fn a_length_beside_a_transfer_coding_is_dropped() {
        let mut answer = map(&[("Transfer-Encoding", "chunked"), ("Content-Length", "10")]);
        to_browser(&mut answer, &how());
        assert!(answer.get(header::CONTENT_LENGTH).is_none());
        let mut plain = map(&[("Content-Length", "10")]);
        to_browser(&mut plain, &how());
        assert_eq!(plain.get(header::CONTENT_LENGTH).unwrap(), "10");
    }

    #[test]
    fn another_sites_pages_cannot_change_state_or_open_a_websocket_on_an_app() {
        use axum::http::Method;
        let me = "https://wiki.localhost:3080";
        let ws = |origin: &str| map(&[("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Origin", origin)]);
        assert_eq!(cross_site(&Method::GET, &ws(me), me), None);
        assert!(cross_site(&Method::GET, &ws("https://evil.localhost:3080"), me).is_some());
        assert!(cross_site(&Method::GET, &map(&[("Connection", "Upgrade"), ("Upgrade", "websocket")]), me).is_some());
        let post = |pairs: &[(&str, &str)]| cross_site(&Method::POST, &map(pairs), me);
        assert_eq!(post(&[("Sec-Fetch-Site", "same-origin"), ("Origin", me)]), None);
        assert!(post(&[("Sec-Fetch-Site", "same-site"), ("Origin", "https://other.localhost:3080")]).is_some());
        assert!(post(&[("Sec-Fetch-Site", "cross-site")]).is_some());
        assert!(post(&[("Origin", "https://other.localhost:3080")]).is_some(), "no Sec-Fetch-Site: the Origin decides");
        assert_eq!(post(&[]), None, "a client that is not a browser says neither");
        let link = map(&[("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate")]);
        assert_eq!(cross_site(&Method::GET, &link, me), None, "a link from elsewhere still opens the app");
    }
}
