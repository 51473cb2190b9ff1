"""``python -m bench --dimse``: the DIMSE service against Orthanc's DICOM server in one run.

C-STORE instances per second over one association and over four concurrent associations
(each sends its share of the corpus), then C-FIND study-level latency (p50 / p95) of Study
Root queries by Patient ID over what was stored. Each target starts empty; the corpus files
(with this run's token) are written to a temp folder first and sent from there, file by file
(pynetdicom streams them), so the client holds no corpus in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom.config
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pynetdicom import AE, _config, build_context
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from bench import corpus, orthanc
from bench.cpu import CpuByRole, CpuProbe, launched_by, process_tree, spent
from bench.report import Figure, Results, rate, render_table, write_json
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from dimse import commandsets, incoming, pdus, responses, sockets, wakeups

_config.STORE_SEND_CHUNKED_DATASET = True  # send from the file, never the whole data set
# The client's CPU shares the two cores with the server measured, so it does no work that is
# no part of a request: no description of each PDU and message (pynetdicom's standard
# handlers build one, logged or not), no pretty-printed identifiers, its command sets encoded
# directly (``dimse.commandsets``, byte for byte pydicom's) rather than twice by pydicom's
# writer, its requests written as ready PDUs (``dimse.pdus``, byte for byte pynetdicom's) and
# the responses' command sets read straight into primitives (``dimse.incoming``). Both servers
# are timed with this client alike.
_config.LOG_HANDLER_LEVEL = "none"
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False
commandsets.install()
pdus.install()
incoming.install()
# The client's own association threads wake for their work rather than polling every
# millisecond (``dimse.wakeups``), so neither server's latency carries the client's poll delays.
wakeups.install()
FIND = StudyRootQueryRetrieveInformationModelFind
CONCURRENT = 4


@dataclass(frozen=True)
class DicomTarget:
    label: str
    host: str
    port: int
    ae_title: str
    cpu: CpuProbe | None = None


@dataclass(frozen=True)
class Sent:
    """A corpus file written with the run's token, with what its context needs."""

    path: Path
    sop_class_uid: str
    transfer_syntax_uid: str
    patient_id: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str


def run(args: argparse.Namespace) -> int:
    """Measure our DIMSE service, and Orthanc's with ``--orthanc``; print the table."""
    # pydicom checks each value the client sets or reads against its VR, only to warn: the
    # client checks nothing, it times (both servers alike).
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    count = args.instances or (100 if args.quick else 1000)
    data = corpus.load_corpus(args.corpus_dir, count, args.seed, corpus.new_token())
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="bench-dimse-") as folder:
        files = _written(data, Path(folder))
        for label, opener in _targets(args):
            _say(f"starting {label}")
            with opener as target:
                results[target.label] = measure(target, files, 10 if args.quick else 100)
    print(render_table(results))
    if args.json:
        write_json(args.json, results, {"instances": count, "quick": args.quick, "dimse": True})
    return 0


def _targets(
    args: argparse.Namespace,
) -> Iterator[tuple[str, contextlib.AbstractContextManager[DicomTarget]]]:
    yield "our stack", _our_stack(args.stack_data)
    if args.orthanc:
        yield "Orthanc", _orthanc(args.orthanc_port)


@contextlib.contextmanager
def _our_stack(data_dir: Path) -> Iterator[DicomTarget]:
    stack = Stack(StackSettings.ephemeral(data_dir.resolve()))
    stack.start()
    try:
        host, port = stack.dimse_address
        cpu = CpuProbe(launched_by(os.getpid(), str(data_dir.resolve())))
        yield DicomTarget("ours", host, port, "DICOMWEB", cpu)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def _orthanc(http_port: int) -> Iterator[DicomTarget]:
    dicom_port = http_port + 1
    with orthanc.run_orthanc(http_port, dicom_port=dicom_port) as running:
        assert running.dicom_port is not None
        cpu = CpuProbe(process_tree(running.pid))
        yield DicomTarget("Orthanc", "127.0.0.1", running.dicom_port, orthanc.DICOM_AE_TITLE, cpu)


def _written(data: corpus.Corpus, folder: Path) -> list[Sent]:
    files = []
    for i, instance in enumerate(data.instances):
        path = folder / f"{i}.dcm"
        path.write_bytes(data.read(instance))
        meta = read_file_meta_info(path)
        sop_class, syntax = meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID
        ds = dcmread(path, specific_tags=["StudyInstanceUID", "SeriesInstanceUID"])
        uids = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        sop = str(meta.MediaStorageSOPInstanceUID)
        files.append(Sent(path, str(sop_class), str(syntax), instance.patient_id, *uids, sop))
    return files


def measure(target: DicomTarget, files: list[Sent], queries: int) -> list[Figure]:
    one, rest = files[: len(files) // 3], files[len(files) // 3 :]
    figures = _with_cpu(
        target,
        "C-STORE, one association",
        len(one),
        "inst",
        lambda: [_store_figure(target, [one], "C-STORE, one association")],
    )
    figures += _with_cpu(
        target,
        "C-STORE, 4 associations",
        len(rest),
        "inst",
        lambda: [
            _store_figure(
                target, [rest[i::CONCURRENT] for i in range(CONCURRENT)], "C-STORE, 4 associations"
            )
        ],
    )
    asked = random.Random(0).choices(files, k=queries)
    _wait_until_found(target, [*asked, one[-1], *rest[-CONCURRENT:]])
    figures += _with_cpu(target, "C-FIND", queries, "query", lambda: _find_figures(target, asked))
    for figure in figures:
        _say(
            f"  {target.label}: {figure.operation}: {figure.value:.2f} {figure.unit} {figure.note}"
        )
    return figures


def _with_cpu(
    target: DicomTarget, name: str, units: int, unit: str, phase: Callable[[], list[Figure]]
) -> list[Figure]:
    """The phase's figures, then the server's CPU per unit of work: in all and by process
    (throughput on a shared machine is noise; CPU per operation is not)."""
    if target.cpu is None:
        return phase()
    before = target.cpu.sample_by_role()
    figures = phase()
    used: CpuByRole = spent(before, target.cpu.sample_by_role())
    per = f"ms/{unit}"
    figures.append(Figure(f"{name}: server CPU", sum(used.values()) / units * 1e3, per, False))
    for role, seconds in sorted(used.items(), key=lambda item: -item[1])[:4]:
        figures.append(Figure(f"{name}: CPU {role}", seconds / units * 1e3, per, False))
    return figures


def _associate(target: DicomTarget, contexts: list[PresentationContext]) -> Association:
    ae = AE(ae_title="BENCH")
    ae.requested_contexts = contexts
    # pynetdicom's reactor may take a response from its sender (``dimse.responses``); the
    # client writes and acknowledges at once (``dimse.sockets``), so neither server's
    # figures carry the client's own Nagle / delayed-ACK stalls.
    handlers = [*responses.HANDLERS, *sockets.HANDLERS]
    assoc = ae.associate(target.host, target.port, ae_title=target.ae_title, evt_handlers=handlers)
    if not assoc.is_established:
        raise RuntimeError(f"{target.label} refused the association")
    return assoc


def _store_figure(target: DicomTarget, shares: list[list[Sent]], operation: str) -> Figure:
    """Each share over its own association, all at once; instances answered Success per s."""
    done = [0] * len(shares)

    def send(index: int) -> None:
        pairs = sorted({(s.sop_class_uid, s.transfer_syntax_uid) for s in shares[index]})
        assoc = _associate(target, [build_context(c, t) for c, t in pairs][:128])
        try:
            for sent in shares[index]:
                with contextlib.suppress(ValueError):  # no accepted context: not stored
                    status = assoc.send_c_store(sent.path)
                    done[index] += int(getattr(status, "Status", -1) in (0x0000, 0xB000))
        finally:
            assoc.release()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(shares))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    total = sum(len(s) for s in shares)
    note = "" if sum(done) == total else f"{total - sum(done)} not stored"
    return Figure(operation, rate(sum(done) / seconds), "instances/s", True, note)


def _wait_until_found(target: DicomTarget, sent: list[Sent], seconds: float = 600) -> None:
    """Until C-FIND finds each of ``sent``: a store answered once durable may be indexed a
    moment later, and the latency figures are of searches over the whole archive, not of
    searches racing its indexing."""
    assoc = _associate(target, [build_context(FIND)])
    deadline = time.monotonic() + seconds
    try:
        for item in sent:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "IMAGE"
            identifier.StudyInstanceUID = item.study_instance_uid
            identifier.SeriesInstanceUID = item.series_instance_uid
            identifier.SOPInstanceUID = item.sop_instance_uid
            while not [a for _, a in assoc.send_c_find(identifier, FIND) if a is not None]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{target.label}: {item.sop_instance_uid} never found")
                time.sleep(0.2)
    finally:
        assoc.release()


def _find_figures(target: DicomTarget, asked: list[Sent]) -> list[Figure]:
    """Study-level C-FIND by Patient ID, one query at a time on one association."""
    latencies = []
    assoc = _associate(target, [build_context(FIND)])
    try:
        for sent in asked:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            identifier.PatientID = sent.patient_id
            identifier.StudyInstanceUID = ""
            started = time.monotonic()
            answers = list(assoc.send_c_find(identifier, FIND))
            latencies.append(time.monotonic() - started)
            if not answers or int(answers[-1][0].Status) != 0:
                raise RuntimeError(f"{target.label}: C-FIND failed")
    finally:
        assoc.release()
    ordered = sorted(latencies)
    p50, p95 = (ordered[min(len(ordered) - 1, int(f * len(ordered)))] for f in (0.5, 0.95))
    return [
        Figure("C-FIND study by PatientID p50", p50 * 1000, "ms", False),
        Figure("C-FIND study by PatientID p95", p95 * 1000, "ms", False),
    ]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
