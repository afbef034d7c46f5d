//! The built web app (trunk's `dist/`), read once at start-up and served from memory:
//! gzip made ahead of time, ETags, long caching for content-hashed names, and the
//! single-page-app fallback to `index.html` for the app's own routes, except `/signin`,
//! which gets `signin.html` when the build made one: the sign-in app, a small wasm
//! without the SSH client, the terminal, the players or the desktops, so the page
//! everybody loads first loads fast (`web/src/lib.rs`).
//!
//! Brotli is made by the build, not here (quality 11 takes seconds for the app's wasm,
//! which every start of a proxy would pay): `build_web` in `scripts/lib.sh` writes
//! `NAME.br` beside each file, and a browser that accepts `br` gets it. Each `.br` is
//! decompressed once at load and used only if it gives back exactly its file's bytes,
//! so a stale or damaged one is skipped (with a warning), never served.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

pub struct Assets {
    files: HashMap<String, Asset>,
    csp: String,
}

struct Asset {
    body: Vec<u8>,
    gzip: Option<Vec<u8>>,
    brotli: Option<Vec<u8>>,
    content_type: &'static str,
    etag: String,
    immutable: bool,
}

const NOT_BUILT: &str = "<!DOCTYPE html><title>Gatehouse</title><p>The Gatehouse web app has not been built. Run <code>./scripts/start</code>, which builds it, or point <code>web_root</code> in the config at trunk's <code>dist/</code> folder.</p>";

impl Assets {
    /// Reads every file under `root`. A missing folder is not fatal: the API still
    /// works and pages say how to build the app.
    pub fn load(root: &Path) -> Assets {
        let mut files = HashMap::new();
        let mut brotli = Vec::new();
        if let Err(err) = read_dir(root, root, &mut files, &mut brotli) {
            tracing::warn!(root = %root.display(), %err, "cannot read the web app; serving a notice instead");
        }
        for (url, compressed) in brotli {
            match files.get_mut(&url) {
                Some(asset) if unbrotli(&compressed).is_some_and(|bytes| bytes == asset.body) => {
                    asset.brotli = Some(compressed);
                }
                Some(_) => {
                    tracing::warn!(file = %url, "its .br file does not decompress to it (stale?); not serving brotli for it")
                }
                None => tracing::warn!(file = %url, "a .br file without its file; ignored"),
            }
        }
        if !files.contains_key("/index.html") {
            files.insert("/index.html".into(), Asset::new("/index.html", NOT_BUILT.as_bytes().to_vec()));
        }
        let pages: Vec<String> = ["/index.html", SIGNIN_PAGE]
            .iter()
            .filter_map(|page| files.get(*page))
            .map(|page| String::from_utf8_lossy(&page.body).into_owned())
            .collect();
        let csp = content_security_policy(&pages);
        tracing::info!(files = files.len(), root = %root.display(), "web app loaded");
        Assets { files, csp }
    }

    pub fn content_security_policy(&self) -> &str {
        &self.csp
    }

    /// Sizes of everything served: raw, as sent to gzip clients, and to brotli clients.
    pub fn total_bytes(&self) -> (usize, usize, usize) {
        self.files.values().fold((0, 0, 0), |(raw, gz, br), a| {
            let gzipped = a.gzip.as_ref().map_or(a.body.len(), Vec::len);
            (raw + a.body.len(), gz + gzipped, br + a.brotli.as_ref().map_or(gzipped, Vec::len))
        })
    }

    /// The page that starts the app at `route`: the sign-in app for `/signin` if it was
    /// built (else the whole app shows its own sign-in page), the whole app elsewhere.
    fn page(&self, route: &str) -> &Asset {
        match self.files.get(SIGNIN_PAGE) {
            Some(signin) if route == "/signin" => signin,
            _ => &self.files["/index.html"],
        }
    }

    pub fn respond(&self, path: &str, method: &Method, request_headers: &HeaderMap) -> Response {
        let asset = match self.files.get(path) {
            Some(asset) => asset,
            // A path whose last part has no extension is one of the app's own routes.
            None if !path.rsplit('/').next().unwrap_or("").contains('.') => self.page(path),
            None => return (StatusCode::NOT_FOUND, "Not found.\n").into_response(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
            headers.insert(header::ETAG, etag);
        }
        let not_modified = request_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
        if not_modified {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        let accepted = request_headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
        let body = match (&asset.brotli, &asset.gzip) {
            (Some(brotli), _) if accepts(accepted, "br") => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
                brotli
            }
            (_, Some(gzip)) if accepts(accepted, "gzip") => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                gzip
            }
            _ => &asset.body,
        };
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let body = if method == Method::HEAD { Body::empty() } else { Body::from(body.clone()) };
        (StatusCode::OK, headers, body).into_response()
    }
}

/// The sign-in app's page, built by `build_web` beside `index.html`.
const SIGNIN_PAGE: &str = "/signin.html";

impl Asset {
    fn new(path: &str, body: Vec<u8>) -> Asset {
        let content_type = content_type(path);
        let gzip = (compressible(content_type) && body.len() > 512).then(|| gzip(&body));
        let digest = ring::digest::digest(&ring::digest::SHA256, &body);
        let etag = format!("\"{}\"", digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
        let name = path.rsplit('/').next().unwrap_or(path);
        Asset { body, gzip, brotli: None, content_type, etag, immutable: has_content_hash(name) }
    }
}

/// Every file under `dir` into `files`, except `NAME.br`, which goes into `brotli` as
/// (the URL of NAME, its bytes).
fn read_dir(
    root: &Path,
    dir: &Path,
    files: &mut HashMap<String, Asset>,
    brotli: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            read_dir(root, &path, files, brotli)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let bytes = std::fs::read(&path)?;
            match url.strip_suffix(".br") {
                Some(original) => brotli.push((original.to_string(), bytes)),
                None => {
                    files.insert(url.clone(), Asset::new(&url, bytes));
                }
            }
        }
    }
    Ok(())
}

/// Whether an `Accept-Encoding` value takes `coding`: named with a weight above zero, or
/// not named and `*` is (RFC 9110, 12.5.3).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    let weight = |name: &str| {
        accept_encoding.split(',').find_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts.next().filter(|n| n.eq_ignore_ascii_case(name))?;
            let q = parts.find_map(|p| p.strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
            Some(q.unwrap_or(0.0))
        })
    };
    weight(coding).or_else(|| weight("*")).is_some_and(|q| q > 0.0)
}

/// The bytes a brotli stream decompresses to; `None` if it is not one (or runs past 64
/// MiB, far beyond any file of the app).
fn unbrotli(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(compressed, 64 * 1024).take(64 << 20).read_to_end(&mut out).ok()?;
    Some(out)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || matches!(content_type, "application/wasm" | "image/svg+xml" | "application/json")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Trunk names built files `name-<hash>.ext`, the hash a u64 in hex without leading
/// zeros (so 16 digits, or fewer one time in sixteen); such files never change content.
fn has_content_hash(name: &str) -> bool {
    name.split(['-', '_', '.'])
        .any(|part| (10..=16).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The policy from DESIGN.md, plus the hash of each inline script in the app's pages
/// (`index.html`, `signin.html`: trunk's loader is one in each), so exactly those and
/// nothing else may run inline.
fn content_security_policy(pages: &[String]) -> String {
    let hashes: String = pages
        .iter()
        .flat_map(|html| inline_scripts(html))
        .map(|script| {
            let digest = ring::digest::digest(&ring::digest::SHA256, script.as_bytes());
            format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; connect-src 'self'; \
         img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The bodies of `<script>` elements without a `src` attribute.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.match_indices("<script").filter_map(move |(start, _)| {
        let open_end = start + html[start..].find('>')?;
        let body_end = open_end + html[open_end..].find("</script>")?;
        let tag = &html[start..open_end];
        (!tag.contains(" src=")).then(|| &html[open_end + 1..body_end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_hashed_names_are_immutable() {
        assert!(has_content_hash("gatehouse-web-3f2a1b9c8d7e6f50_bg.wasm"));
        assert!(has_content_hash("style-0123456789abcdef.css"));
        assert!(has_content_hash("gatehouse-web-1a9635865dff97e_bg.wasm"), "15 digits: a leading zero dropped");
        assert!(!has_content_hash("index.html"));
        assert!(!has_content_hash("favicon.svg"));
    }

    #[test]
    fn csp_allows_exactly_the_inline_loader() {
        let html =
            "<head><script type=\"module\">import x from '/a.js';</script><script src=\"/b.js\"></script></head>";
        let scripts: Vec<_> = inline_scripts(html).collect();
        assert_eq!(scripts, vec!["import x from '/a.js';"]);
        let csp = content_security_policy(&[html.to_string()]);
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"));
        assert_eq!(csp.matches("'sha256-").count(), 1);
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[tokio::test]
    async fn signin_gets_the_signin_app_when_built_and_its_loader_may_run() {
        let dir = std::env::temp_dir().join(format!("gh-assets-signin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<script type=\"module\">whole()</script>").unwrap();
        async fn body(assets: &Assets, path: &str) -> String {
            let response = assets.respond(path, &Method::GET, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        }
        let whole = Assets::load(&dir);
        assert!(body(&whole, "/signin").await.contains("whole()"), "no sign-in app built: the whole app signs in");
        assert_eq!(whole.content_security_policy().matches("'sha256-").count(), 1);

        std::fs::write(dir.join("signin.html"), "<script type=\"module\">small()</script>").unwrap();
        let both = Assets::load(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(body(&both, "/signin").await.contains("small()"));
        for path in ["/index.html", "/recordings", "/signin/more", "/ssh/node", "/invite"] {
            assert!(body(&both, path).await.contains("whole()"), "{path}");
        }
        assert_eq!(both.content_security_policy().matches("'sha256-").count(), 2, "both loaders may run");
    }

    #[test]
    fn routes_fall_back_to_index_and_missing_files_are_404() {
        let mut files = HashMap::new();
        files.insert("/index.html".to_string(), Asset::new("/index.html", b"<html>app</html>".to_vec()));
        let assets = Assets { files, csp: String::new() };
        let ok = assets.respond("/invite", &Method::GET, &HeaderMap::new());
        assert_eq!(ok.status(), StatusCode::OK);
        let missing = assets.respond("/nothing.js", &Method::GET, &HeaderMap::new());
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn matching_etag_gets_not_modified() {
        let asset = Asset::new("/app-0123456789abcdef.js", vec![b'x'; 2000]);
        let etag = asset.etag.clone();
        let mut files = HashMap::new();
        files.insert("/app-0123456789abcdef.js".to_string(), asset);
        let assets = Assets { files, csp: String::new() };
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        let response = assets.respond("/app-0123456789abcdef.js", &Method::GET, &headers);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn gzip_is_served_only_to_clients_that_accept_it() {
        let mut files = HashMap::new();
        files.insert("/a.js".to_string(), Asset::new("/a.js", vec![b'x'; 5000]));
        let assets = Assets { files, csp: String::new() };
        let plain = assets.respond("/a.js", &Method::GET, &HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, br"));
        let gz = assets.respond("/a.js", &Method::GET, &headers);
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(gz.headers()[header::CONTENT_LENGTH].to_str().unwrap().parse::<usize>().unwrap() < 100);
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("br;q=1.0, gzip;q=0.8", "gzip"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("gzip, br; q=0.000", "br"));
        assert!(accepts("*", "br"));
        assert!(!accepts("identity", "gzip"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts("brotli", "br"), "a name is matched whole");
        assert!(!accepts("br;q=0, *", "br"), "named refusal beats the wildcard");
        assert!(accepts("gzip;q=0, *;q=0.5", "br"));
    }

    /// A brotli stream of `bytes` (no compressor in the proxy: the build makes them). This
    /// is the smallest valid form, uncompressed meta-blocks, written by hand from RFC 7932.
    fn stored_brotli(bytes: &[u8]) -> Vec<u8> {
        assert!(!bytes.is_empty() && bytes.len() <= 65536);
        // WBITS=16 (one 0 bit); then ISLAST=0, MNIBBLES=4 (code 0), MLEN-1 in 16 bits,
        // ISUNCOMPRESSED=1; pad to a byte; the bytes; then an empty last meta-block
        // (ISLAST=1, ISLASTEMPTY=1).
        let mut bits: Vec<bool> = vec![false, false, false, false];
        let len = bytes.len() as u32 - 1;
        bits.extend((0..16).map(|i| len >> i & 1 == 1));
        bits.push(true);
        while !bits.len().is_multiple_of(8) {
            bits.push(false);
        }
        let mut out: Vec<u8> = bits.chunks(8).map(|c| c.iter().rev().fold(0u8, |b, &bit| b << 1 | bit as u8)).collect();
        out.extend_from_slice(bytes);
        out.push(0b11);
        out
    }

    #[test]
    fn brotli_beside_a_file_is_served_when_it_matches_and_skipped_when_stale() {
        let dir = std::env::temp_dir().join(format!("gh-assets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = b"console.log('the app');".repeat(100);
        std::fs::write(dir.join("index.html"), b"<html></html>").unwrap();
        std::fs::write(dir.join("app-0123456789abcdef.js"), &body).unwrap();
        std::fs::write(dir.join("app-0123456789abcdef.js.br"), stored_brotli(&body)).unwrap();
        std::fs::write(dir.join("old.js"), &body).unwrap();
        std::fs::write(dir.join("old.js.br"), stored_brotli(b"what old.js used to be")).unwrap();
        std::fs::write(dir.join("junk.js"), &body).unwrap();
        std::fs::write(dir.join("junk.js.br"), b"not brotli at all").unwrap();
        let assets = Assets::load(&dir);
        assert!(!assets.files.contains_key("/app-0123456789abcdef.js.br"), "a .br is not a file of its own");
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate, br"));
        let br = assets.respond("/app-0123456789abcdef.js", &Method::GET, &headers);
        assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
        for stale in ["/old.js", "/junk.js"] {
            let response = assets.respond(stale, &Method::GET, &headers);
            assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip", "{stale}");
        }
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let gz = assets.respond("/app-0123456789abcdef.js", &Method::GET, &headers);
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
