"""The report's pages of products: text shown as text, a large HTML page packed under the frame limit."""

import base64
import gzip
import json
import re

from snakedask import report_pages


def test_json_is_indented_with_number_lists_on_one_line(tmp_path):
    source = tmp_path / "ndvi_stats.json"
    source.write_text(json.dumps({"count": 3, "histogram": {"counts": [1, 2, 3]}, "name": "<b>"}))
    page = tmp_path / "page.html"
    report_pages.write_page(source, page, "ndvi statistics")
    html = page.read_text(encoding="utf-8")
    assert '"counts": [1, 2, 3]' in html and '"name": "&lt;b&gt;"' in html
    assert "&lt;b&gt;" in html and "<b>" not in html  # escaped, not markup
    assert json.loads(report_pages.json_text(json.loads(source.read_text()))) == json.loads(
        source.read_text()
    )
    # The original, as a download link.
    uri = re.search(
        r'href="data:application/json;charset=utf-8;base64,([^"]+)" download="ndvi_stats.json"', html
    )
    assert uri and base64.b64decode(uri.group(1)) == source.read_bytes()


def test_csv_is_a_table(tmp_path):
    source = tmp_path / "averages.csv"
    source.write_text("year,m_soil\n2019,0.25\n2020,<0.3>\n", encoding="utf-8")
    html = report_pages.text_page(source, "averages")
    assert "<th>year</th><th>m_soil</th>" in html and "<td>2019</td><td>0.25</td>" in html
    assert "&lt;0.3&gt;" in html


def test_an_html_page_is_packed_and_a_too_large_one_named(tmp_path, monkeypatch):
    source = tmp_path / "dask-report.html"
    source.write_text("<html><title>Dask Performance Report</title>" + "x" * 500_000 + "</html>")
    html = report_pages.packed_html_page(source, "Dask performance report")
    packed = re.search(r'<script id="packed" type="application/octet-stream">([^<]+)</script>', html).group(1)
    assert gzip.decompress(base64.b64decode(packed)) == source.read_bytes()
    assert len(html) < report_pages.MAX_PAGE_BYTES and "DecompressionStream" in html
    monkeypatch.setattr(report_pages, "MAX_PAGE_BYTES", 1000)
    html = report_pages.packed_html_page(source, "Dask performance report")
    assert "too large" in html and str(source) in html and 'id="packed"' not in html


def test_every_text_product_and_dask_report_has_one_page_with_its_dataset_in_the_label():
    from snakedask import products

    scenes = {"one": ("ndvi",), "savi_only": ("savi",), "two": ("ndvi", "savi")}
    pages = report_pages.product_pages(
        ["lesson"], {"one": ["red", "nir"], "savi_only": ["stack"], "two": ["red", "nir"]}, scenes
    )
    made = products.all_products(["lesson"], {name: list(indices) for name, indices in scenes.items()})
    shown_as_pages = [path for path in made if path.endswith((".csv", "_stats.json", "dask-report.html"))]
    raw = ["resources/tables/lesson/raw.provenance.json"] + [
        f"resources/scenes/{scene}/{stem}.provenance.json"
        for scene, stems in (("one", ("red", "nir")), ("savi_only", ("stack",)), ("two", ("red", "nir")))
        for stem in stems
    ]
    assert sorted(page.source for page in pages) == sorted(shown_as_pages + raw)
    assert len({page.page for page in pages}) == len(pages)
    assert all(page.page.startswith("results/report_pages/") for page in pages)
    jobs = sorted(page.labels["job"] for page in pages if page.category == "Dask performance")
    assert jobs == [
        "averages of table lesson",
        "ndvi of scene one",
        "ndvi, savi of scene two",
        "savi of scene savi_only",
    ]
    stats = {page.source: page for page in pages if page.source.endswith("_stats.json")}
    assert stats["results/scenes/two/savi_stats.json"].labels == {
        "scene": "two",
        "product": "savi statistics",
    }
    assert "soil" in stats["results/scenes/two/savi_stats.json"].note  # what SAVI measures


def test_a_note_is_shown_above_the_product(tmp_path):
    source = tmp_path / "ndvi_stats.json"
    source.write_text('{"count_valid": 3}')
    html = report_pages.text_page(source, "ndvi statistics", note="NDVI: <vigour>")
    assert html.index("NDVI: &lt;vigour&gt;") < html.index("count_valid")
