"""What the workflow makes: product paths per table and scene, in one place.

The Snakefile's ``rule all``, the tests and the benchmark all list products
from here.
"""

TABLE_PRODUCTS = ("encoding.json", "averages.csv", "averages.png", "dask-report.html")
RUN_INFO = ("results/run_info/config.yaml", "results/run_info/software_versions.txt")


def index_products(index: str) -> tuple[str, ...]:
    """A spectral index's files in its scene's folder (NDVI's Dask report keeps its original name)."""
    report = "dask-report.html" if index == "ndvi" else f"{index}_dask-report.html"
    return (f"{index}.tif", f"{index}_stats.json", f"{index}.png", f"{index}_histogram.png", report)


SCENE_PRODUCTS = index_products("ndvi")


def table_products(table: str, products: tuple[str, ...] = TABLE_PRODUCTS) -> list[str]:
    return [f"results/tables/{table}/{product}" for product in products]


def scene_products(
    scene: str, products: tuple[str, ...] = SCENE_PRODUCTS, indices: tuple[str, ...] = ()
) -> list[str]:
    """Paths of ``products`` in the scene's folder, or of every product of each of ``indices``."""
    if indices:
        products = tuple(name for index in indices for name in index_products(index))
    return [f"results/scenes/{scene}/{product}" for product in products]


def all_products(tables: list[str], scenes: dict[str, list[str]] | list[str]) -> list[str]:
    """Every final product of these tables and scenes (name -> its indices; a list: NDVI only)."""
    if not isinstance(scenes, dict):
        scenes = {scene: ["ndvi"] for scene in scenes}
    return (
        [path for table in tables for path in table_products(table)]
        + [
            path
            for scene, indices in scenes.items()
            for path in scene_products(scene, indices=tuple(indices))
        ]
        + list(RUN_INFO)
    )
