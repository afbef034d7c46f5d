//! Who is calling when a load balancer stands in front: the address a trusted proxy
//! (`trusted_proxies`) says it forwarded for, in `X-Forwarded-For`; anyone else's
//! header is ignored, since a browser can send any. Sign-in limits and the audit then
//! see the person's address instead of the load balancer's.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The client of a request that came from `peer`: the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy, when `peer` is one; `peer`
/// otherwise (also when the header is missing or does not parse).
pub fn client(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else { return peer };
        for hop in text.split(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    match hops.into_iter().rev().find(|ip| !trusted.contains(ip)) {
        Some(ip) => SocketAddr::new(ip, peer.port()),
        None => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    const LB: &str = "10.0.0.2:40000";

    #[test]
    fn a_trusted_proxy_names_the_client_and_a_spoofed_hop_before_it_is_ignored() {
        let trusted = ["10.0.0.2".parse().unwrap()];
        let peer: SocketAddr = LB.parse().unwrap();
        let ip = |h: &[&str]| client(peer, &headers(h), &trusted).ip().to_string();
        assert_eq!(ip(&["198.51.100.7"]), "198.51.100.7");
        // The browser sent "203.0.113.9"; the load balancer appended who it really is.
        assert_eq!(ip(&["203.0.113.9, 198.51.100.7"]), "198.51.100.7");
        assert_eq!(ip(&["203.0.113.9", "198.51.100.7"]), "198.51.100.7");
        assert_eq!(ip(&[]), "10.0.0.2", "no header: the peer");
        assert_eq!(ip(&["not an address"]), "10.0.0.2");
    }

    #[test]
    fn anyone_else_cannot_choose_their_address() {
        let trusted = ["10.0.0.2".parse().unwrap()];
        let peer: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        assert_eq!(client(peer, &headers(&["203.0.113.9"]), &trusted), peer);
        assert_eq!(client(peer, &headers(&["203.0.113.9"]), &[]), peer);
    }
}
