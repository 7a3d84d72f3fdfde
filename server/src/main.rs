//! `roomcast`: the server binary (placeholder until the server issue lands).

fn main() {
    eprintln!("roomcast server: not implemented yet (see issue 3)");
    std::process::exit(2);
}
