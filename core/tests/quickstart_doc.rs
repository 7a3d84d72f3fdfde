//! The book's Rust quick start (`docs/quickstart-rust.md`) quotes the README's
//! library example verbatim (both are doctests of this crate).

fn rust_blocks(markdown: &str) -> Vec<&str> {
    markdown
        .split("```rust\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("unclosed rust block")])
        .collect()
}

#[test]
fn quickstart_quotes_the_readme_library_example() {
    let readme = include_str!("../../README.md");
    let quickstart = include_str!("../../docs/quickstart-rust.md");
    let section = &readme[readme
        .find("## Using the engine as a library")
        .expect("README section")..];
    let example = rust_blocks(section)[0];
    assert_eq!(
        rust_blocks(quickstart),
        [example],
        "docs/quickstart-rust.md must quote the README's library example verbatim"
    );
}
