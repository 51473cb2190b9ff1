"""The listener's presentation contexts: what a modality's association gets accepted."""

from __future__ import annotations

import copy
import logging

from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import _config, build_context
from pynetdicom.presentation import negotiate_as_acceptor

from dimse.scp import SharedContexts, application_entity
from dimse.settings import Settings

ACCEPTANCE = 0x00
US_IMAGE_RETIRED = "1.2.840.10008.5.1.4.1.1.6"  # not in pynetdicom's storage list
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def _negotiated(*proposed: tuple[str, str]) -> list[int]:
    contexts = [build_context(sop_class, syntax) for sop_class, syntax in proposed]
    for number, context in enumerate(contexts):
        context.context_id = 2 * number + 1
    accepted, _ = negotiate_as_acceptor(contexts, application_entity(Settings()).supported_contexts)
    return [int(context.result) for context in accepted]


def test_retired_storage_classes_are_accepted_as_stow_stores_them() -> None:
    proposed = [(US_IMAGE_RETIRED, ExplicitVRLittleEndian), (CT_IMAGE, JPEGBaseline8Bit)]
    assert _negotiated(*proposed) == [ACCEPTANCE, ACCEPTANCE]


def test_associations_share_the_listeners_contexts_rather_than_copy_them() -> None:
    contexts = SharedContexts(application_entity(Settings()).supported_contexts)
    copied = copy.deepcopy(contexts)  # what pynetdicom does for each association it accepts
    assert len(copied) == len(contexts) > 100
    assert all(mine is theirs for mine, theirs in zip(copied, contexts, strict=True))


def test_protocol_descriptions_are_built_only_when_the_log_writes_them() -> None:
    try:
        for level in ("DEBUG", "INFO"):
            application_entity(Settings(protocol_log_level=level))
            assert _config.LOG_HANDLER_LEVEL == "standard"
        application_entity(Settings())  # WARNING
        assert _config.LOG_HANDLER_LEVEL == "none"
    finally:
        logging.getLogger("pynetdicom").setLevel(Settings().protocol_log_level)
