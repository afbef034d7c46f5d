//! The whole app (see the library's docs for the sign-in app beside it).

mod bench;

fn main() {
    gatehouse_web::start_app();
}
