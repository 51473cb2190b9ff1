"""The storage SOP classes C-STORE accepts: pynetdicom's list plus the retired and trial
composite storage classes it leaves out (the retired Ultrasound Image Storage
1.2.840.10008.5.1.4.1.1.6 that older modalities still send, among others). STOW stores any SOP
class; a modality must not be refused at negotiation what the same archive takes over HTTP.
"""

from __future__ import annotations

from functools import cache

from pydicom._uid_dict import UID_dictionary
from pynetdicom import AllStoragePresentationContexts, register_uid
from pynetdicom.service_class import StorageServiceClass

_COMPOSITE_STORAGE_ARC = "1.2.840.10008.5.1.4.1.1."


@cache
def storage_classes() -> tuple[str, ...]:
    """Every storage SOP class UID, the extra ones registered with pynetdicom once."""
    known = [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]
    extra = [
        (uid, entry[4])
        for uid, entry in UID_dictionary.items()
        if uid.startswith(_COMPOSITE_STORAGE_ARC)
        and entry[1] == "SOP Class"
        and "Storage" in entry[0]
        and uid not in known
    ]
    for uid, keyword in extra:
        register_uid(uid, keyword, StorageServiceClass)
    return (*known, *(uid for uid, _ in extra))
