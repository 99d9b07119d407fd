"""What the workflow makes: product paths per table and scene, in one place.

The Snakefile's ``rule all``, the tests and the benchmark all list products
from here.
"""

TABLE_PRODUCTS = (
    "encoding.json",
    "records.json",
    "averages.csv",
    "counts.csv",
    "averages.png",
    "dask-report.html",
)
RUN_INFO = (
    "results/run_info/config.yaml",
    "results/run_info/run.yaml",
    "results/run_info/software_versions.txt",
)


def index_products(index: str) -> tuple[str, ...]:
    """A spectral index's files in its scene's folder when it is the scene's only index, the GeoTIFF
    first (NDVI's Dask report keeps its name)."""
    report = "dask-report.html" if index == "ndvi" else f"{index}_dask-report.html"
    return (*index_files(index), report)


def index_files(index: str) -> tuple[str, ...]:
    """The files of one index, without the Dask report of the job that makes it."""
    return (f"{index}.tif", f"{index}_stats.json", f"{index}.png", f"{index}_histogram.png")


def raw_table(name: str, table: dict) -> str:
    """Where table ``name``'s raw file is: downloaded, or, read in place, the record of its object."""
    stem = f"resources/tables/{name}/raw"
    return f"{stem}.located.json" if table.get("read_in_place") else f"{stem}.csv"


def table_products(table: str, products: tuple[str, ...] = TABLE_PRODUCTS) -> list[str]:
    return [f"results/tables/{table}/{product}" for product in products]


def scene_products(scene: str, indices: tuple[str, ...] = ("ndvi",)) -> list[str]:
    """Every product of each of ``indices`` of the scene.

    Several indices are made by one job, in one Dask pass: its performance
    report is the scene's ``dask-report.html``.
    """
    folder = f"results/scenes/{scene}"
    if len(set(indices)) == 1:
        return [f"{folder}/{name}" for name in index_products(indices[0])]
    unique = dict.fromkeys(indices)
    return [f"{folder}/{name}" for index in unique for name in index_files(index)] + [
        f"{folder}/dask-report.html"
    ]


def all_products(tables: list[str], scenes: dict[str, list[str]]) -> list[str]:
    """Every final product of these tables and scenes (name -> its indices), and the run's record."""
    return (
        [path for table in tables for path in table_products(table)]
        + [path for scene, indices in scenes.items() for path in scene_products(scene, tuple(indices))]
        + list(RUN_INFO)
    )
