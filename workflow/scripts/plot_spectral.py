"""Rule plot_index: the map and histogram of a scene's spectral index (NDVI and its siblings)."""

import json
from pathlib import Path

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    from snakedask.atomic_output import atomic_path
    from snakedask.plot_spectral import plot_histogram, plot_index_map

    stats = json.loads(Path(smk.input.stats).read_text())
    with atomic_path(smk.output.png) as tmp:
        plot_index_map(smk.input.tif, tmp, smk.wildcards.scene, smk.params.index, stats)
    with atomic_path(smk.output.histogram) as tmp:
        plot_histogram(stats, tmp, smk.wildcards.scene, smk.params.index)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
