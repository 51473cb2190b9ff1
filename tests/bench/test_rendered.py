"""The rendered phases' like-for-like figures: only the requests every target answered with a
picture count, each target keeps its all-requests figures, and status counts are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpus import Corpus, Instance
from bench.rendered import (
    FIRST,
    REPEATED,
    SHARED,
    Answers,
    same_instances_everywhere,
    shared_figures,
)
from bench.report import Figure, Results, render_table


def _answers(status: dict[str, int], milliseconds: dict[str, float]) -> Answers:
    return Answers(status, {k: v / 1e3 for k, v in milliseconds.items()})


def test_only_requests_every_target_rendered_count() -> None:
    ours = _answers({"a": 200, "b": 200, "c": 406}, {"a": 2.0, "b": 40.0})
    theirs = _answers({"a": 200, "b": 400, "c": 200}, {"a": 8.0, "c": 9.0})
    results: Results = {"ours": [], "theirs": []}
    shared_figures(results, {"ours": {FIRST: ours}, "theirs": {FIRST: theirs}})
    name = f"WADO-RS rendered JPEG, {FIRST}, {SHARED}"
    by_name = {label: {f.operation: f for f in figures} for label, figures in results.items()}
    assert by_name["ours"][name].value == pytest.approx(500.0)  # only "a": 2 ms
    assert by_name["theirs"][name].value == pytest.approx(125.0)  # only "a": 8 ms
    assert by_name["ours"][f"{name}: p95"].value == pytest.approx(2.0)
    assert by_name["ours"][name].note == "1 requests"
    assert "only instances every server renders" in render_table(results)


def test_a_phase_one_target_did_not_run_adds_nothing() -> None:
    ours = _answers({"a": 200}, {"a": 2.0})
    results: Results = {"ours": [Figure("x", 1.0, "img/s", True)], "theirs": []}
    shared_figures(results, {"ours": {FIRST: ours, REPEATED: ours}, "theirs": {FIRST: ours}})
    assert results["ours"][0].operation == "x"
    assert not any(REPEATED in f.operation for f in results["ours"])
    shared_figures(results := {"ours": []}, {"ours": {FIRST: ours}})  # one target: no pairs
    assert results == {"ours": []}


def test_status_counts_read_as_code_and_number() -> None:
    assert _answers({"a": 200, "b": 406, "c": 200}, {}).counts() == "200: 2, 406: 1"


def test_the_instances_asked_for_are_spread_along_the_corpus() -> None:
    corpus = Corpus(Path(), [_instance(n) for n in range(100)], "12345678")
    stored = {i.sop_instance_uid for i in corpus.instances if i.sop_instance_uid != "1.5"}
    chosen = [i.sop_instance_uid for i in same_instances_everywhere(corpus, stored, 10)]
    assert len(chosen) == 10 and "1.5" not in chosen
    assert chosen[0] == "1.0" and int(chosen[-1].split(".")[1]) >= 80  # from end to end


def _instance(n: int) -> Instance:
    return Instance(f"{n}.dcm", "1", "1", f"1.{n}", "P", "N", "20260101", "CT", 1)
