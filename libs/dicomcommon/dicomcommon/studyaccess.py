"""Study-level access groups: which studies a caller may see, and which groups a study it
creates gets. One home for the rule every reader (QIDO, WADO, the change feed) and writer
(STOW, DELETE through the indexer) applies.

The rule, when ``DICOMWEB_AUTH_STUDY_GROUPS_ENABLED`` is on:

- a caller with the ``admin`` permission sees every study (so does ``LOCAL``, the caller when
  authentication is off: it holds every permission);
- any other caller sees exactly the studies whose groups share at least one of its own;
- a caller with **no groups sees no study** (deny by default): a token that forgot its groups
  claim must not read the whole archive;
- a study outside the caller's groups is answered as if it did not exist (404, or absent from
  a search or the feed), never 403, so nobody can probe for it.

When the feature is off, ``visible_groups`` is ``None`` and no reader adds a condition, a join
or a parameter: the hot paths cost what they cost without it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from dicomcommon.principal import Permission, Principal, principal_of
from dicomcommon.settings import StudyGroupsSettings

Groups = tuple[str, ...]
NO_GROUP = "the uploader belongs to no study access group"


def visible_groups(principal: Principal, settings: StudyGroupsSettings) -> Groups | None:
    """The groups whose studies ``principal`` may see; ``None``: every study (no filter)."""
    if not settings.enabled or principal.may(Permission.ADMIN):
        return None
    return tuple(sorted(set(principal.groups)))


def caller_groups(scope: Mapping[str, Any], settings: StudyGroupsSettings) -> Groups | None:
    """``visible_groups`` of the caller an HTTP request carries (``principal_of(scope)``)."""
    return visible_groups(principal_of(scope), settings)


def new_study_groups(principal: Principal, settings: StudyGroupsSettings) -> Groups:
    """The groups a study gets when ``principal`` creates it by storing its first instance:
    those configured for the uploader's subject, else the uploader's own groups."""
    configured = settings.uploader_groups.get(principal.subject)
    return tuple(sorted(set(configured if configured is not None else principal.groups)))


@dataclass(frozen=True)
class Upload:
    """What a store command carries about its uploader's access (``events.InstanceStored``)."""

    study_groups: Groups  # a study the store creates gets these
    may_store_in: Groups | None  # the groups of existing studies it may add to; None: any

    @property
    def refused(self) -> bool:
        """An uploader limited to no group at all may store nowhere (deny by default)."""
        return self.may_store_in == ()


def upload(principal: Principal, settings: StudyGroupsSettings) -> Upload:
    """A new study gets its uploader's groups even while the feature is off, so turning it on
    later finds every study with groups. With the feature on, a non-admin uploader may add to
    the existing studies of its own groups and of those it gives new studies."""
    study_groups = new_study_groups(principal, settings)
    own = visible_groups(principal, settings)
    if own is None:
        return Upload(study_groups, None)
    return Upload(study_groups, tuple(sorted({*own, *study_groups})))


def shares_group(study_groups: Collection[str], groups: Collection[str]) -> bool:
    """The rule itself: a study is within reach when it shares at least one group."""
    return not set(study_groups).isdisjoint(groups)


def shares_group_sql(study_groups: str, groups_parameter: str) -> str:
    """``shares_group`` in SQL: the ``text[]`` expression ``study_groups`` shares a group with
    the ``text[]`` parameter (``&&``, which the GIN index on ``study.access_groups`` serves)."""
    return f"{study_groups} && {groups_parameter}::text[]"


def study_condition(study_uid: str, groups_parameter: str) -> str:
    """SQL that holds when the study named by the expression ``study_uid`` exists and shares
    a group with the ``text[]`` parameter (a primary-key probe of ``study``)."""
    shared = shares_group_sql("access_study.access_groups", groups_parameter)
    return (
        f"EXISTS (SELECT 1 FROM study access_study WHERE access_study.study_instance_uid = "
        f"{study_uid} AND {shared})"
    )


def refuses(study_groups: Groups | None, may_store_in: Groups | None) -> bool:
    """Whether an existing study (its groups; ``None``: there is no such study) refuses an
    uploader limited to ``may_store_in`` (``None``: any): they share no group. The indexer
    decides it in SQL (``refuses_sql``) as it applies a store or a delete; a store path may
    decide it from the index before it answers (the DIMSE forecast)."""
    if study_groups is None or may_store_in is None:
        return False
    return not shares_group(study_groups, may_store_in)


def refuses_sql(study_uid: str, groups_parameter: str) -> str:
    """``refuses`` in SQL: true when the study named by the expression ``study_uid`` exists
    and the ``text[]`` parameter (NULL: any group) shares none of its groups. It takes no
    lock (a primary-key probe of ``study``)."""
    shared = shares_group_sql("refusing_study.access_groups", groups_parameter)
    return (
        f"EXISTS (SELECT 1 FROM study refusing_study WHERE refusing_study.study_instance_uid"
        f" = {study_uid} AND {groups_parameter}::text[] IS NOT NULL AND NOT ({shared}))"
    )
