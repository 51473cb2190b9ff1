"""The search's named reads, beside the SQL it compiles from each query
(``dicomcommon.search``): the extended query tags as QIDO-RS and C-FIND read them
(``search/extendedtags.py``)."""

from __future__ import annotations

# Every declared tag, whether any of its values failed the tag's VR.
EXTENDED_TAG_CATALOG = """
SELECT tag_key, path, vr, level, private_creator, status, query_status,
    EXISTS (SELECT 1 FROM extended_tag_error e WHERE e.tag_key = t.tag_key) AS has_errors
FROM extended_query_tag t
"""
