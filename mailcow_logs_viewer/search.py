"""The search syntax shared by every list endpoint and the UI's search box.

    alice invoice          both words (AND)
    alice OR bob           either word
    -newsletter            without this word
    "out of office"        this exact phrase
    from:alice@x  to:bob  subject:invoice  ip:1.2.3.4  user:john  queue:3A9F  msgid:abc  status:bounced
    folder:Junk            a recipient Dovecot stored in that folder

Plain words keep the spec's substring meaning ("search in sender, recipient, subject, ..."),
so `exam` finds `alice@example.org`. `parse` turns a query into clauses (AND-ed lists of
OR-ed terms); each list endpoint compiles terms into its own columns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FIELDS = ("from", "to", "subject", "ip", "user", "queue", "msgid", "status", "folder")
_TOKEN = re.compile(r'(-?)(?:([a-z]+):)?(?:"([^"]*)"?|(\S+))', re.IGNORECASE)
MAX_TERMS = 16


@dataclass(frozen=True)
class Term:
    value: str
    field: str | None = None
    negated: bool = False


def parse(query: str) -> list[list[Term]]:
    """`a b OR c -d` -> [[a], [b, c], [-d]]: a list of clauses that must all hold."""
    clauses: list[list[Term]] = []
    join_next = False
    for match in _TOKEN.finditer(query or ""):
        minus, field, quoted, bare = match.groups()
        if quoted is None and bare == "OR" and not minus and not field:
            join_next = bool(clauses)
            continue
        value = quoted if quoted is not None else bare
        if field and field.lower() not in FIELDS:
            # "http://x" or "re:" is a word, not a field query.
            value = match.group(0)[len(minus):] if quoted is None else f"{field}:{quoted}"
            field = None
        value = value.strip()
        if not value:
            continue
        term = Term(value, field.lower() if field else None, bool(minus))
        if join_next and clauses:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        join_next = False
        if sum(len(c) for c in clauses) >= MAX_TERMS:
            break
    return clauses


def fts_phrase(value: str) -> str:
    """A value as an FTS5 string literal: the trigram tokenizer then matches it as a substring."""
    return '"' + value.replace('"', '""') + '"'


def like_pattern(value: str) -> str:
    """A LIKE pattern for a substring, with LIKE's own wildcards escaped (ESCAPE '\\')."""
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
