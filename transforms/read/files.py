"""The files an input option names: one glob rule for ``--input`` and ``--warc``."""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from newsbeam.transforms.errors import ConfigError


def matching_files(pattern: str, option: str) -> list[str]:
    """The files ``pattern`` matches (any Beam filesystem), sorted; matching nothing is a configuration error."""
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception as error:  # noqa: BLE001 - Beam raises a bare BeamIOError subclass per scheme
        raise ConfigError(f"cannot list {option} {pattern}: {error}") from None
    files = sorted(m.path for m in matches)
    if not files:
        raise ConfigError(f"{option} {pattern} matches no file")
    return files
