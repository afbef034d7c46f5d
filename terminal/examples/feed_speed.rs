//! Native parse speed of the terminal model: `cargo run --release -p gatehouse-terminal
//! --example feed_speed FILE [SCROLLBACK]`. For profiling the hot path outside a browser.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a file of terminal output");
    let scrollback: usize = args.next().map_or(10_000, |s| s.parse().expect("a number"));
    let data = std::fs::read(path).expect("readable");
    let mut term = gatehouse_terminal::Terminal::new(40, 120, scrollback);
    let start = std::time::Instant::now();
    for chunk in data.chunks(32 * 1024) {
        term.feed(chunk);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.1} MB in {secs:.3} s: {:.1} MB/s", data.len() as f64 / 1e6, data.len() as f64 / 1e6 / secs);
}
