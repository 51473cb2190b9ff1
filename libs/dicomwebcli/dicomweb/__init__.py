"""The ``dicomweb`` command line: a client for any DICOMweb server (PS3.18), ours by default."""
