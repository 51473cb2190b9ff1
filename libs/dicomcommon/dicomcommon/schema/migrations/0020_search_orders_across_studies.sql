-- Orders of QIDO matches that were still sorted at scale (``dicomcommon.search.order``).

-- An instance search across studies in its default order (InstanceNumber, then UID): a page
-- reads its rows from this index instead of sorting every matching instance of the archive.
-- ``instance_series`` (0001) goes in exchange: ``instance_default_order`` (0017) leads with
-- the series UID too and serves every lookup it served, so a store still updates as many
-- instance indexes as before.
CREATE INDEX instance_number_order ON instance (
    dicom_integer(instance_number) ASC NULLS FIRST,
    sop_instance_uid ASC NULLS FIRST
);
DROP INDEX instance_series;

-- A study list by patient or by accession (``orderby=PatientID``, ``-AccessionNumber``): the
-- matching indexes of 0014 gain the UID and the order's direction (the value's first 256
-- characters, then the UID, empty values lowest), so they also give the order; an exact
-- match still finds its rows by their first column.
DROP INDEX study_patient_id;
CREATE INDEX study_patient_id ON study (
    left(patient_id, 256) ASC NULLS FIRST,
    study_instance_uid ASC NULLS FIRST
);
DROP INDEX study_accession_number;
CREATE INDEX study_accession_number ON study (
    left(accession_number, 256) ASC NULLS FIRST,
    study_instance_uid ASC NULLS FIRST
);
