"""Every statement that reads the index prepares against a freshly migrated PostgreSQL: the
named reads of ``dicomcommon.schema``, the search SQL compiled for every typed column, and
the indexer's own statements. A migration that renames or drops a column a reader uses fails
here, naming the reader."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from pydicom.datadict import dictionary_VR

import indexer
from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.dicom.dicomjson import Level
from dicomcommon.errors import InvalidQuery
from dicomcommon.schema.catalog import named_reads
from dicomcommon.search import sql
from dicomcommon.search.columns import COLUMNS
from dicomcommon.search.query import parse_query

pytestmark = pytest.mark.integration

_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_SAMPLES = {"text": "X*", "date": "20200101-20201231", "name": "Doe^J*", "integer": "1"}
_UID = "1.2.3"


# Parts of a larger statement, prepared as part of it.
_PARTS = {"apply._KEEP_FEED_METADATA"}  # in apply._REPLACE_INSTANCE and _DELETE_INSTANCES


def _indexer_statements() -> Iterator[tuple[str, str]]:
    """The SQL text constants of every indexer module, by ``module.NAME``."""
    for found in pkgutil.iter_modules(indexer.__path__):
        module = importlib.import_module(f"indexer.{found.name}")
        for name, value in vars(module).items():
            key = f"{found.name}.{name}"
            if isinstance(value, str) and _STATEMENT.match(value) and key not in _PARTS:
                yield key, value


def _searches() -> Iterator[tuple[str, str]]:
    """The compiled search and count of each level matching, and sorting, by each typed
    column (with study groups), as QIDO-RS and C-FIND send them."""
    for level, keyword in itertools.product(Level, COLUMNS):
        kind = COLUMNS[keyword][1]
        value = _UID if dictionary_VR(keyword) == "UI" else _SAMPLES.get(kind, "CT")
        for use, param in (("match", (keyword, value)), ("order", ("orderby", keyword))):
            try:
                query = parse_query(level, [param, ("includefield", "all")], max_limit=10)
                search = sql.build_search(query, "http://x/dicom-web", ("a",))
            except InvalidQuery:  # a key this level does not match or sort by
                continue
            name = f"{level.name}.{use}.{keyword}"
            yield f"search[{name}]", search.text
            yield f"search.json[{name}]", search.json_text
            yield f"count[{name}]", sql.build_count(query, 100, ("a",)).text


async def _prepares(pool: asyncpg.Pool, statement: str) -> None:
    async with db.connection(pool) as conn:
        await conn.prepare(statement)


def _cases(statements: Iterator[tuple[str, str]]) -> list[Any]:
    return [pytest.param(statement, id=name) for name, statement in statements]


@pytest.mark.parametrize("statement", _cases(named_reads()))
async def test_each_named_read_prepares(migrated_pool: asyncpg.Pool, statement: str) -> None:
    await _prepares(migrated_pool, statement)


@pytest.mark.parametrize("statement", _cases(_indexer_statements()))
async def test_each_indexer_statement_prepares(migrated_pool: asyncpg.Pool, statement: str) -> None:
    await _prepares(migrated_pool, statement)


async def test_the_search_compiled_for_each_typed_column_prepares(
    migrated_pool: asyncpg.Pool,
) -> None:
    statements = list(_searches())
    assert {n.split(".")[-1].rstrip("]") for n, _ in statements} == set(COLUMNS)
    failed = {}
    for name, statement in statements:
        try:
            await _prepares(migrated_pool, statement)
        except asyncpg.PostgresError as exc:
            failed[name] = str(exc)
    assert failed == {}


_GROUP_SETS: list[tuple[str, ...] | None] = [None, (), ("a",), ("b",), ("a", "b"), ("c",)]


async def test_the_refusal_in_sql_is_the_refusal_in_python(migrated_pool: asyncpg.Pool) -> None:
    """``studyaccess.refuses_sql`` (the indexer's) decides as ``refuses`` (the forecast's) for
    every pair of a study's groups (None: no such study) and a caller's (None: any)."""
    statement = f"SELECT {studyaccess.refuses_sql('$1', '$2')}"
    decided = {}
    async with db.connection(migrated_pool) as conn:
        for index, study in enumerate(_GROUP_SETS):
            uid = f"1.2.826.0.1.3680043.10.543.77.{index}"
            if study is not None:
                await conn.execute(
                    "INSERT INTO study (study_instance_uid, attributes, access_groups)"
                    " VALUES ($1, '{}', $2)",
                    uid,
                    list(study),
                )
            for caller in _GROUP_SETS:
                groups = None if caller is None else list(caller)
                decided[study, caller] = await conn.fetchval(statement, uid, groups)
    expected = {pair: studyaccess.refuses(*pair) for pair in decided}
    assert decided == expected
    assert set(expected.values()) == {True, False}
