"""Pages of the run's products for the HTML report (``snakemake --report results/report.html``).

Snakemake's report shows a result in the page only when it is an image, a PDF or
HTML; it offers anything else (YAML, JSON, CSV, text) as a download. And it embeds
each result as a ``data:`` URL, which Chromium refuses to load in a frame above
2 MiB (the frame stays blank): a Dask performance report, BokehJS inline, is more.
So each product gets a small HTML page of its own for the report:

* text (YAML, JSON, plain text) as preformatted text, JSON indented with its number
  lists on one line; a CSV as a table. The original is a download link in the page.
* a Dask performance report gzip-compressed (about a quarter of its size) inside a
  page that unpacks it with the browser's ``DecompressionStream`` and shows it.
"""

import base64
import csv
import gzip
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

from snakedask.atomic_output import write_text

# Chromium loads no URL longer than 2 MiB (url::kMaxURLChars): the report's data: URL of a page is
# its bytes in base64 (4/3) after a short header. Pages up to this size fit, with room to spare.
MAX_PAGE_BYTES = 1_500_000
# The original file is a download link in its page up to this size (the page holds it in base64).
MAX_ATTACHED_BYTES = 256_000
MAX_TABLE_ROWS = 2_000

MIME = {".csv": "text/csv", ".json": "application/json", ".html": "text/html"}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1em 1.5em; color: #1e293b; }
h1 { font-size: 1.15em; margin: 0 0 .6em; }
pre { font: 13px/1.4 ui-monospace, monospace; background: #f1f5f9; padding: .8em 1em;
      white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; font: 13px/1.4 ui-monospace, monospace; }
th, td { border: 1px solid #cbd5e1; padding: .2em .6em; text-align: right; }
th { background: #e2e8f0; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
p.note { color: #475569; }
"""


def _document(title: str, body: str, head: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{head}</head>\n"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _attachment(source: Path, data: bytes) -> str:
    """A download link of the original file, or where to find it when it is too big to attach."""
    if len(data) > MAX_ATTACHED_BYTES:
        return f'<p class="note">The file: <code>{html.escape(str(source))}</code> ({len(data):,} bytes).</p>'
    mime = MIME.get(source.suffix, "text/plain")
    uri = f"data:{mime};charset=utf-8;base64,{base64.b64encode(data).decode('ascii')}"
    name = html.escape(source.name, quote=True)
    return f'<p class="note"><a href="{uri}" download="{name}">Download {name}</a> ({len(data):,} bytes).</p>'


def json_text(value, indent: int = 0) -> str:
    """JSON, indented two spaces per level, a list of numbers or strings on one line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {json_text(v, indent + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[\n" + ",\n".join(f"{inner}{json_text(v, indent + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def _csv_table(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return '<p class="note">(empty)</p>'
    header, body = rows[0], rows[1:]
    shown = body[:MAX_TABLE_ROWS]
    cells = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    lines = [f"<table><thead><tr>{cells}</tr></thead><tbody>"]
    lines += ["<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in shown]
    lines.append("</tbody></table>")
    if len(body) > len(shown):
        lines.append(f'<p class="note">The first {len(shown):,} of {len(body):,} rows.</p>')
    return "\n".join(lines)


def text_page(source: Path, title: str, note: str = "") -> str:
    """A page showing ``source`` (CSV as a table, JSON indented, anything else as it is) below ``note``."""
    source = Path(source)
    data = source.read_bytes()
    text = data.decode("utf-8", errors="replace")
    if source.suffix == ".csv":
        shown = _csv_table(text)
    else:
        if source.suffix == ".json":
            text = json_text(json.loads(text))
        shown = f"<pre>{html.escape(text, quote=False)}</pre>"
    said = f'<p class="note">{html.escape(note)}</p>\n' if note else ""
    return _document(title, said + shown + "\n" + _attachment(source, data))


UNPACK = """<script>
(async () => {
  const packed = document.getElementById("packed").textContent.trim();
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const page = await new Response(stream).text();
  document.open();
  document.write(page);
  document.close();
})().catch((error) => {
  document.getElementById("status").textContent = "This browser could not unpack the report: " + error;
});
</script>"""


def packed_html_page(source: Path, title: str) -> str:
    """A page that shows the HTML page ``source``, held gzip-compressed (unpacked by the browser)."""
    source = Path(source)
    packed = base64.b64encode(gzip.compress(source.read_bytes(), compresslevel=9, mtime=0)).decode("ascii")
    body = (
        f'<p id="status" class="note">Unpacking {html.escape(source.name)}…</p>\n'
        '<noscript><p class="note">Showing this report needs JavaScript.</p></noscript>\n'
        f'<script id="packed" type="application/octet-stream">{packed}</script>\n{UNPACK}'
    )
    page = _document(title, body)
    if len(page.encode()) <= MAX_PAGE_BYTES:
        return page
    size = source.stat().st_size
    return _document(
        title,
        f"<p>This report ({size / 1e6:.1f} MB, {len(packed) * 3 / 4e6:.1f} MB compressed) is too large for a "
        "frame of the single-file HTML report (browsers load no frame address over 2 MB). Open "
        f"<code>{html.escape(str(source))}</code> in a browser: it is self-contained and works offline.</p>",
    )


def write_page(source: str | Path, page: str | Path, title: str, note: str = "") -> None:
    """Write the report's page of ``source`` (an HTML page packed, anything else as text) to ``page``;
    ``note``: a line of plain text shown above a text product."""
    source = Path(source)
    text = packed_html_page(source, title) if source.suffix == ".html" else text_page(source, title, note)
    write_text(page, text)


@dataclass(frozen=True)
class ProductPage:
    """A product's page in the HTML report, and where the report files it (rules/report.smk)."""

    source: str  # the product
    page: str  # its page, under results/report_pages/
    title: str
    caption: str  # a file in workflow/report/
    category: str
    labels: dict[str, str]
    subcategory: str | None = None
    note: str = ""  # shown above the product: what a spectral index is


def product_pages(
    tables: list[str],
    scene_stems: dict[str, list[str]],
    index_sets: dict[str, tuple[str, ...]],
    read_in_place: frozenset[str] = frozenset(),
    tables_in_place: frozenset[str] = frozenset(),
) -> list[ProductPage]:
    """The report pages of every product of ``tables`` and scenes (name -> its raw file stems; its
    indices in ``index_sets``; those ``read_in_place`` have a record of where each object is instead
    of a download's, as have the ``tables_in_place``) but the run record's, all made by one job
    (rule report_pages)."""
    from snakedask import products
    from snakedask.spectral_indices import lookup

    pages = []
    for table in tables:
        folder, pages_folder = f"results/tables/{table}", f"results/report_pages/tables/{table}"
        for name, caption, product, title in (
            ("averages.csv", "averages_table.rst", "averages (CSV)", "Averages of table {} (averages.csv)"),
            (
                "counts.csv",
                "counts.rst",
                "counts per group (CSV)",
                "Rows and values per group of table {} (counts.csv)",
            ),
        ):
            pages.append(
                ProductPage(
                    f"{folder}/{name}",
                    f"{pages_folder}/{name}.html",
                    title.format(table),
                    caption,
                    "Tables",
                    {"table": table, "product": product},
                    subcategory=table,
                )
            )
        pages.append(_dask_page(f"{folder}/dask-report.html", pages_folder, f"averages of table {table}"))
        # One label per result where a category may hold two: Snakemake's report turns a second
        # label with two values, each on half of the results, into a toggle, which breaks the list
        # unless every first label has both values.
        raw = f"resources/tables/{table}/raw.csv"
        pages.append(
            _provenance_page(
                raw, f"{pages_folder}/raw.provenance.json.html", located=table in tables_in_place
            )
        )
    for scene, stems in scene_stems.items():
        folder, pages_folder = f"results/scenes/{scene}", f"results/report_pages/scenes/{scene}"
        pages += [
            _provenance_page(
                f"resources/scenes/{scene}/{stem}.tif",
                f"{pages_folder}/{stem}.provenance.json.html",
                located=scene in read_in_place,
            )
            for stem in stems
        ]
        indices = index_sets[scene]
        for index in indices:
            entry = lookup(index)
            pages.append(
                ProductPage(
                    f"{folder}/{index}_stats.json",
                    f"{pages_folder}/{index}_stats.json.html",
                    f"{index} statistics of scene {scene} ({index}_stats.json)",
                    "index_stats.rst",
                    "Scenes",
                    {"scene": scene, "product": f"{index} statistics"},
                    subcategory=scene,
                    note=f"{index.upper()}: {entry.description}.",
                )
            )
        report = next(
            Path(path).name
            for path in products.scene_products(scene, indices)
            if path.endswith("dask-report.html")
        )
        pages.append(_dask_page(f"{folder}/{report}", pages_folder, f"{', '.join(indices)} of scene {scene}"))
    return pages


def _dask_page(source: str, pages_folder: str, job: str) -> ProductPage:
    return ProductPage(
        source,
        f"{pages_folder}/{Path(source).name}",
        f"Dask performance report: {job}",
        "dask_report.rst",
        "Dask performance",
        {"job": job},
    )


def _provenance_page(raw: str, page: str, located: bool = False) -> ProductPage:
    """The page of where a raw file came from (``located``: where the object read in place is)."""
    record = Path(raw).with_suffix(".located.json" if located else ".provenance.json")
    title = f"Where {raw} {'is read from (in place)' if located else 'came from'}"
    return ProductPage(str(record), page, title, "provenance.rst", "Provenance", {"file": raw})
