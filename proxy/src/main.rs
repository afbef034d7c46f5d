//! `gatehouse`: the proxy binary. Everything it does is in the library; see
//! [`gatehouse::cli`].

fn main() -> anyhow::Result<()> {
    gatehouse::cli::run()
}
