"""results/index.html: rendered from the report's tables, deterministic, and checked in
a real browser (headless Chromium through Playwright) from file://: no console error, no
network request, every table with its rows, sorting and filtering work, every figure loads.

The browser tests need Chromium (Debian's ``chromium``) and the ``playwright`` package;
without them they are skipped, unless RNNBENCH_REQUIRE_BROWSER=1 (as in .ci/run), where a
missing browser fails."""

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rnnbench.report import report

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "results"
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


class Tables(HTMLParser):
    """Rows per table body, and the Markdown file each table links to."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.in_body = False
        self.last_md = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and (attrs.get("href") or "").endswith(".md"):
            self.last_md = attrs["href"]
        if tag == "table":
            self.tables.append({"md": self.last_md, "rows": 0, "declared": int(attrs["data-rows"])})
        if tag == "tbody":
            self.in_body = True
        if tag == "tr" and self.in_body:
            self.tables[-1]["rows"] += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_body = False


def markdown_rows(path: Path) -> int:
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    return len(lines) - 2  # header and rule


def parse(html_path: Path) -> list[dict]:
    parser = Tables()
    parser.feed(html_path.read_text())
    return parser.tables


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    """The published quick and gpu records, re-reported into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    (out / "raw").mkdir()
    for name in ("quick.jsonl", "gpu.jsonl"):
        if (PUBLISHED / "raw" / name).exists():
            shutil.copy(PUBLISHED / "raw" / name, out / "raw" / name)
    report(out)
    return out


def test_page_has_every_table_with_its_rows(small_site):
    tables = parse(small_site / "index.html")
    md_files = sorted(small_site.glob("*/*.md"))
    assert len(tables) == len(md_files) > 0
    for t in tables:
        assert t["rows"] == t["declared"] == markdown_rows(small_site / t["md"]), t["md"]


def test_page_is_deterministic_and_self_contained(small_site, tmp_path):
    first = (small_site / "index.html").read_bytes()
    report(small_site)
    assert (small_site / "index.html").read_bytes() == first
    html = first.decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no link leaves the page's folder"
    for target in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert (small_site / target).exists() or target == "raw/", target
    for _name, cls in __import__("rnnbench.tasks", fromlist=["TASKS"]).TASKS.items():
        assert f"solved when <code>{cls.rule}</code>" in html.replace("&gt;", ">").replace("&lt;", "<")


def test_the_published_page_matches_the_published_tables():
    page = PUBLISHED / "index.html"
    assert page.exists(), "results/index.html is part of the published results: run rnnbench report"
    tables = parse(page)
    assert {t["md"] for t in tables} == {str(p.relative_to(PUBLISHED)) for p in PUBLISHED.glob("*/*.md")}
    for t in tables:
        assert t["rows"] == markdown_rows(PUBLISHED / t["md"]), t["md"]


def browser():
    required = os.environ.get("RNNBENCH_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is not installed (pip install playwright)")
        pytest.skip("playwright is not installed")
    if CHROMIUM is None:
        if required:
            pytest.fail("no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH")
    return sync_playwright


@pytest.mark.parametrize("which", ["small", "published"])
def test_page_in_headless_chromium(which, small_site, tmp_path):
    sync_playwright = browser()
    root = small_site if which == "small" else PUBLISHED
    expected = {t["md"]: markdown_rows(root / t["md"]) for t in parse(root / "index.html")}
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((root / "index.html").as_uri())
        page.wait_for_load_state("load")
        if which == "published":  # what a first-time reader sees
            page.screenshot(path=str(Path(os.environ.get("RNNBENCH_SCREENSHOT", tmp_path / "page.png"))))
        assert errors == []
        assert requests and all(u.startswith("file://") for u in requests), [u for u in requests if not u.startswith("file://")]
        shown = page.eval_on_selector_all(
            "article",
            """els => els.map(a => [
            a.querySelector('a[href$=".md"]').getAttribute('href'),
            a.querySelectorAll('tbody tr').length])""",
        )
        assert dict(shown) == expected
        images = page.eval_on_selector_all("img", "els => els.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])")
        assert images and all(width > 0 for _, width in images), [s for s, w in images if not w]

        # sorting: click a column whose values differ and see the first row change, then reverse
        table = page.locator("article").filter(has=page.locator('a[href$="throughput.md"]')).first.locator("table")
        header = table.locator("th", has_text="fwd tokens/s")
        firsts = []
        for _ in range(2):
            header.click()
            firsts.append(table.locator("tbody tr").first.inner_text())
        assert firsts[0] != firsts[1]
        assert header.get_attribute("aria-sort") == "descending"

        # filtering to one model hides the other models' rows and columns
        def visible(selector):
            return page.eval_on_selector_all(selector, "els => els.filter(e => !e.hidden && e.offsetParent !== null).length")

        rows_before, cols_before = visible("tbody tr"), visible("th")
        page.select_option('select[data-filter="model"]', "lstm")
        rows_after, cols_after = visible("tbody tr"), visible("th")
        assert rows_after < rows_before and cols_after < cols_before
        models = page.eval_on_selector_all(
            "table.data",
            """ts => ts.flatMap(t => { const i = Array.from(t.tHead.rows[0].cells)
                .findIndex(h => h.dataset.role === 'model'); return i < 0 ? [] :
                Array.from(t.tBodies[0].rows).filter(r => !r.hidden).map(r => r.cells[i].textContent.trim()); })""",
        )
        assert models and all(m.split(" ")[0] == "lstm" for m in models)
        page.select_option('select[data-filter="model"]', "")
        assert visible("tbody tr") == rows_before
        page.fill('input[data-filter="text"]', "no row contains this")
        assert visible("tbody tr") == 0
        page.fill('input[data-filter="text"]', "")
        assert errors == []
        chromium.close()
