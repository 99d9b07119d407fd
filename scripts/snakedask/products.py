"""What the workflow makes: product paths per table and scene, in one place.

The Snakefile's ``rule all``, the tests and the benchmark all list products
from here.
"""

TABLE_PRODUCTS = ("encoding.json", "averages.csv", "averages.png", "dask-report.html")
SCENE_PRODUCTS = ("ndvi.tif", "ndvi_stats.json", "ndvi.png", "ndvi_histogram.png", "dask-report.html")
RUN_INFO = ("results/run_info/config.yaml", "results/run_info/software_versions.txt")


def table_products(table: str, products: tuple[str, ...] = TABLE_PRODUCTS) -> list[str]:
    return [f"results/tables/{table}/{product}" for product in products]


def scene_products(scene: str, products: tuple[str, ...] = SCENE_PRODUCTS) -> list[str]:
    return [f"results/scenes/{scene}/{product}" for product in products]


def all_products(tables: list[str], scenes: list[str]) -> list[str]:
    """Every final product of these tables and scenes, and the run's record."""
    return (
        [path for table in tables for path in table_products(table)]
        + [path for scene in scenes for path in scene_products(scene)]
        + list(RUN_INFO)
    )
