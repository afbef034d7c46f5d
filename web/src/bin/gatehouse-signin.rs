//! The sign-in app: what `/signin` loads first (see the library's docs).

fn main() {
    gatehouse_web::start_signin();
}
