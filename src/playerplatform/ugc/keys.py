"""Where UGC files live in the object store."""

from __future__ import annotations

from playerplatform.kit.objects.keys import key_segment, safe_filename, validate_key


def ugc_file_key(ugc_type: str, ugc_id: str, filename: str) -> str:
    """The upload: `ugc/{type}/{ugc_id}/{filename}`."""
    return validate_key(
        f"ugc/{key_segment(ugc_type, 'type')}/{key_segment(ugc_id, 'ugc id')}"
        f"/{safe_filename(filename)}"
    )


def scan_report_key(ugc_id: str, scanner: str, name: str) -> str:
    """A scanner's report: `scans/{ugc_id}/{scanner}/{name}`."""
    return validate_key(
        f"scans/{key_segment(ugc_id, 'ugc id')}/{key_segment(scanner, 'scanner')}"
        f"/{safe_filename(name)}"
    )
