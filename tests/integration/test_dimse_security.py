"""Who may associate and what over DIMSE, on listeners of our own on the stack's backends:
DICOM TLS with a CA made here (a client certificate required), an AE without ``move`` offered
no retrieve context, and associations and operations in the audit trail."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicomstack.stack import Stack
from dimse import statuses
from tests import instances
from tests.integration.dimse_peers import DIMSE_MARKS, associate, own_listener
from tests.polling import eventually

# pynetdicom leaves the sockets of a failed TLS handshake to the garbage collector, on the
# listener's side too (``test_tls_listener_refuses_plain_tcp_...``): their ResourceWarnings may
# surface in any test of this module.
pytestmark = DIMSE_MARKS

_KEY_PEM = serialization.PrivateFormat.TraditionalOpenSSL


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: tuple[Path, Path]  # certificate, key
    client: tuple[Path, Path]


def _issue(
    folder: Path, name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None
) -> tuple[Path, Path, x509.Name, ec.EllipticCurvePrivateKey]:
    """A certificate for ``name`` (loopback) signed by ``issuer``, or a self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_name, signer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
    )
    if issuer is not None:
        alt = x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        builder = builder.add_extension(alt, False)
    certificate = builder.sign(signer_key, hashes.SHA256())
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, _KEY_PEM, serialization.NoEncryption())
    )
    return cert_path, key_path, subject, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, _, ca_name, ca_key = _issue(folder, "test-ca", None)
    server = _issue(folder, "archive", (ca_name, ca_key))[:2]
    client = _issue(folder, "modality", (ca_name, ca_key))[:2]
    return Pki(ca, server, client)


@pytest.fixture(scope="module")
def tls_listener(stack: Stack, pki: Pki) -> Iterator[tuple[str, int]]:
    with own_listener(
        stack,
        tls_cert_file=str(pki.server[0]),
        tls_key_file=str(pki.server[1]),
        tls_ca_file=str(pki.ca),
        tls_require_client_cert=True,
    ) as address:
        yield address


def _client_context(pki: Pki, with_certificate: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_certificate:
        context.load_cert_chain(str(pki.client[0]), str(pki.client[1]))
    return context


def test_tls_association_with_a_client_certificate_is_accepted(
    tls_listener: tuple[str, int], pki: Pki
) -> None:
    tls_args = (_client_context(pki), "localhost")
    assoc = associate(tls_listener, "TLSMOD", [build_context(Verification)], tls_args=tls_args)
    assert assoc.is_established
    try:
        assert int(assoc.send_c_echo().Status) == statuses.SUCCESS
    finally:
        assoc.release()


def test_tls_listener_refuses_plain_tcp_and_clients_without_a_certificate(
    tls_listener: tuple[str, int], pki: Pki
) -> None:
    plain = associate(tls_listener, "PLAINMOD", [build_context(Verification)])
    assert not plain.is_established
    tls_args = (_client_context(pki, with_certificate=False), "localhost")
    anonymous = associate(tls_listener, "ANONMOD", [build_context(Verification)], tls_args=tls_args)
    assert not anonymous.is_established
    for failed in (plain, anonymous):
        if failed.dul.socket is not None:
            failed.dul.socket.close()


@pytest.fixture(scope="module")
def finder_only(stack: Stack) -> Iterator[tuple[str, int]]:
    table = {"FINDER": {"permissions": ["find"]}, "READER": {"permissions": ["read"]}}
    with own_listener(stack, calling_aes=table) as address:
        yield address


_RETRIEVE = [StudyRootQueryRetrieveInformationModelMove, StudyRootQueryRetrieveInformationModelGet]


def test_an_ae_without_move_is_offered_no_retrieve_context(finder_only: tuple[str, int]) -> None:
    contexts = [build_context(m) for m in [StudyRootQueryRetrieveInformationModelFind, *_RETRIEVE]]
    finder = associate(finder_only, "FINDER", contexts)
    assert finder.is_established
    try:
        accepted = {cx.abstract_syntax for cx in finder.accepted_contexts}
        assert accepted == {StudyRootQueryRetrieveInformationModelFind}
        with pytest.raises(ValueError, match="No presentation context"):
            list(finder.send_c_move(_study_identifier(), "ANYWHERE", _RETRIEVE[0]))
    finally:
        finder.release()
    reader = associate(finder_only, "READER", contexts)  # ``read``: find and move
    try:
        assert {cx.abstract_syntax for cx in reader.accepted_contexts} >= set(_RETRIEVE)
    finally:
        reader.release()


def test_associations_are_audited_accepted_and_refused(
    stack: Stack, finder_only: tuple[str, int]
) -> None:
    associate(finder_only, "FINDER", [build_context(Verification)]).release()
    refused = associate(finder_only, "STRANGER", [build_context(Verification)])
    assert refused.is_rejected

    def outcomes(user: str) -> set[str]:
        params = {"user": user, "action": "associate", "limit": 100}
        response = httpx.get(f"{stack.dicomweb_url}/audit", params=params, timeout=30)
        return {e["outcome"] for e in response.json() if e["service"] == "dimse"}

    assert eventually(lambda: "success" in outcomes("FINDER"))
    assert eventually(lambda: "failure" in outcomes("STRANGER"))


def _study_identifier() -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = "1.2.3"
    return identifier


def _indexed(stack: Stack, study: str) -> bool:
    response = httpx.get(f"{stack.dicomweb_url}/studies", params={"StudyInstanceUID": study})
    return response.status_code == 200


def test_c_store_and_c_find_are_audited_with_the_uids_they_touched(stack: Stack) -> None:
    ds = instances.fresh()
    contexts = [
        build_context(CTImageStorage),
        build_context(StudyRootQueryRetrieveInformationModelFind),
    ]
    assoc = associate(stack.dimse_address, "AUDITMOD", contexts)
    assert assoc.is_established
    try:
        assert int(assoc.send_c_store(ds).Status) == statuses.SUCCESS
        # Success means durable: the C-FIND waits until the indexer has applied the store.
        assert eventually(lambda: _indexed(stack, ds.StudyInstanceUID))
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.StudyInstanceUID = ds.StudyInstanceUID
        list(assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()

    def events() -> dict[str, dict[str, object]]:
        params = {"user": "AUDITMOD", "study": ds.StudyInstanceUID, "limit": 100}
        response = httpx.get(f"{stack.dicomweb_url}/audit", params=params, timeout=30)
        return {str(e["method"]): e for e in response.json()}

    assert eventually(lambda: {"C-STORE", "C-FIND"} <= set(events()))
    stored, found = events()["C-STORE"], events()["C-FIND"]
    assert (stored["action"], stored["instance_count"]) == ("store", 1)
    assert stored["instance_uids"] == [ds.SOPInstanceUID]
    assert (found["action"], found["instance_count"], found["outcome"]) == ("search", 1, "success")
    assert f"StudyInstanceUID={ds.StudyInstanceUID}" in str(found["query"])
