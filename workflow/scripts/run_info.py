"""Rule run_info: the run's merged configuration, its config files and Dask cluster, and software versions."""

import yaml

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.run_info import software_versions

    run = {
        "config_files": list(smk.params.configfiles),
        "config_given_with_--config": dict(smk.params.config_args),
        "config_digest": smk.params.config_digest,
        "dask_cluster": dict(smk.params.cluster),
    }
    write_text(smk.output.config, yaml.safe_dump(dict(smk.config), sort_keys=False))
    write_text(smk.output.run, yaml.safe_dump(run, sort_keys=False))
    write_text(smk.output.versions, software_versions())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
