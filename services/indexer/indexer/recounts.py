"""The recounts of series and studies a batch touched (instances per series; series,
instances, modalities and SOP classes per study): the per-command path runs them, and
``ingest_new_instances`` (migration 0023) runs ``BOTH`` as it is handed to it."""

from __future__ import annotations

SERIES = """
UPDATE series s SET number_of_instances =
    (SELECT count(*) FROM instance i WHERE i.series_instance_uid = s.series_instance_uid)
WHERE s.series_instance_uid = ANY($1::text[])
"""
STUDIES = """
UPDATE study st SET
    number_of_series = c.series, number_of_instances = c.instances,
    modalities_in_study = c.modalities, sop_classes_in_study = c.sop_classes
FROM (
    SELECT u.uid,
        (SELECT count(*) FROM series s WHERE s.study_instance_uid = u.uid) AS series,
        (SELECT count(*) FROM instance i WHERE i.study_instance_uid = u.uid) AS instances,
        coalesce((SELECT array_agg(DISTINCT s.modality ORDER BY s.modality) FROM series s
                  WHERE s.study_instance_uid = u.uid AND s.modality IS NOT NULL), '{}')
            AS modalities,
        coalesce((SELECT array_agg(DISTINCT i.sop_class_uid ORDER BY i.sop_class_uid)
                  FROM instance i WHERE i.study_instance_uid = u.uid), '{}') AS sop_classes
    FROM unnest($1::text[]) AS u(uid)
) c
WHERE st.study_instance_uid = c.uid
RETURNING st.study_instance_uid, st.access_groups
"""
# Series, then studies (the lock order), in one statement: the study counts read no series
# count, so the snapshot both updates share is the same one two statements would see.
BOTH = f"WITH series_recounted AS ({SERIES.strip()} RETURNING 1)\n" + STUDIES.replace("$1", "$2")
