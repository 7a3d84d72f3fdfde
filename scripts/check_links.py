#!/usr/bin/env python3
"""Checks every relative link and anchor in a built mdBook (stdlib only).

    python3 scripts/check_links.py [BOOK_DIR] [--src docs]

Walks the HTML under BOOK_DIR (default target/book) and fails (exit 1) on any
href or src that does not resolve: a missing file, or a `#fragment` with no
element of that id in the target page. External links (http:, https:, mailto:,
...) are not fetched. A link that leaves the book (e.g. `../README.md`, which
mdBook renders as `../README.html`) points at the repository: it is checked
against the source tree (SRC_DIR's parent holds the repository) — the file must
exist (`X.html` is taken as `X.md` if that is the source), and a fragment must
be a heading of that markdown file (GitHub's anchor rules) — so the same pages
work on GitHub.
"""
import argparse
import os
import re
import sys
import unicodedata
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

LINK_ATTRS = {"a": "href", "link": "href", "script": "src", "img": "src", "iframe": "src", "source": "src"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []  # (line, url)
        self.base = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "base" and a.get("href"):
            self.base = a["href"]
        attr = LINK_ATTRS.get(tag)
        if attr and a.get(attr) is not None:
            self.links.append((self.getpos()[0], a[attr]))

    handle_startendtag = handle_starttag


def github_slugs(markdown):
    """The anchors GitHub gives the headings of a markdown file."""
    slugs, seen, fence = set(), {}, False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        m = None if fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"<[^>]+>", "", m.group(1))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        slug = "".join(
            c for c in text.lower() if c in "-_ " or unicodedata.category(c)[0] in "LN"
        ).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        slugs.add(slug if n == 0 else f"{slug}-{n}")
    return slugs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("book", nargs="?", default="target/book")
    ap.add_argument("--src", default="docs", help="the book's source directory (default: docs)")
    args = ap.parse_args()
    book = os.path.realpath(args.book)
    src = os.path.realpath(args.src)
    if not os.path.isdir(book):
        sys.exit(f"check_links: no book at {book} (run `mdbook build docs` first)")

    pages = {}
    for root, _, files in os.walk(book):
        for f in files:
            if f.endswith(".html"):
                path = os.path.join(root, f)
                p = Page()
                with open(path, encoding="utf-8") as fh:
                    p.feed(fh.read())
                pages[path] = p

    md_slugs = {}
    errors, checked, repo_links, external = [], 0, 0, 0
    for path, page in sorted(pages.items()):
        rel_page = os.path.relpath(path, book)
        base_dir = os.path.dirname(path)
        if page.base is not None and not urlsplit(page.base).scheme:
            b = page.base
            base_dir = os.path.join(book, b.lstrip("/")) if b.startswith("/") else os.path.join(base_dir, b)
        for line, url in page.links:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//"):
                external += 1
                continue
            checked += 1
            where = f"{rel_page}:{line}: {url}"
            target_path, frag = unquote(parts.path), unquote(parts.fragment)
            if not target_path:
                # A bare #fragment: this page (mdBook's 404.html sets <base> but
                # its heading self-links mean the page itself).
                target = path
            elif target_path.startswith("/"):
                target = os.path.join(book, target_path.lstrip("/"))
            else:
                target = os.path.join(base_dir, target_path)
            target = os.path.normpath(target)
            if target == book or target.startswith(book + os.sep):
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
                if not os.path.isfile(target):
                    errors.append(f"{where}: no such file in the book")
                    continue
                if frag and target.endswith(".html"):
                    ids = pages[target].ids if target in pages else set()
                    if frag not in ids:
                        errors.append(f"{where}: no id {frag!r} in {os.path.relpath(target, book)}")
                continue
            # Out of the book: a file of the repository, relative to the source dir.
            repo_links += 1
            source = os.path.normpath(os.path.join(src, os.path.relpath(target, book)))
            if not os.path.exists(source) and source.endswith(".html"):
                source = source[: -len(".html")] + ".md"
            if not os.path.exists(source):
                errors.append(f"{where}: leaves the book, and {os.path.relpath(source)} does not exist")
                continue
            if frag and source.endswith(".md"):
                if source not in md_slugs:
                    with open(source, encoding="utf-8") as fh:
                        md_slugs[source] = github_slugs(fh.read())
                if frag not in md_slugs[source]:
                    errors.append(f"{where}: no heading #{frag} in {os.path.relpath(source)}")

    for e in errors:
        print(e)
    print(
        f"check_links: {len(pages)} pages, {checked} relative links checked "
        f"({repo_links} into the repository outside the book), {external} external not fetched, "
        f"{len(errors)} broken"
    )
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
