"""The DICOM domain: the standard's rules, shared by the services (reading a part,
DICOM JSON and its levels, pixel data and frame maps, the media type and transfer
syntax table, UIDs, date-times, de-identification, transcoding and its cap).

No I/O lives here: no network, database or blob store (those are ``adapters``), and
nothing about HTTP requests (``web``).
"""
