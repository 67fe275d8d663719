"""Where UGC files live in the object store."""

from __future__ import annotations

import pytest

from playerplatform.kit.objects.keys import InvalidObjectKey
from playerplatform.ugc.keys import scan_report_key, ugc_file_key


def test_ugc_key_layout() -> None:
    assert (
        ugc_file_key("map", "ugc_abc123", "My Castle (v2).zip")
        == "ugc/map/ugc_abc123/My_Castle_v2_.zip"
    )
    assert scan_report_key("ugc_1", "clamd", "report.json") == "scans/ugc_1/clamd/report.json"
    with pytest.raises(InvalidObjectKey):
        ugc_file_key("map", "../x", "a.zip")
    with pytest.raises(InvalidObjectKey):
        scan_report_key("ugc_1", "clam/d", "report.json")
