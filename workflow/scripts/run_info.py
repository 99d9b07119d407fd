"""Rule run_info: the run's merged configuration and software versions."""

import yaml

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.run_info import software_versions

    write_text(smk.output.config, yaml.safe_dump(dict(smk.config), sort_keys=False))
    write_text(smk.output.versions, software_versions())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
