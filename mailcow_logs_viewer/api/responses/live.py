"""Shapes of mailcow's live state: queue, quarantine, containers, storage, versions."""
from __future__ import annotations

from marshmallow import fields

from .base import Bool, Int, Many, MapOf, Num, One, Response, Str, StrList, Time, _f  # noqa: F401


# ------------------------------------------------------------------ queue & quarantine

class RecipientParsedSchema(Response):
    address = Str()
    reason = Str(nullable=True)


class QueueItemSchema(Response):
    queue_name = Str(nullable=True)
    queue_id = Str(nullable=True)
    arrival_time = Int(nullable=True, metadata={"description": "Epoch seconds"})
    message_size = Int(nullable=True)
    forced_expire = Bool()
    sender = Str()
    recipients = StrList()
    recipients_parsed = Many(RecipientParsedSchema)
    arrival = Time(nullable=True)
    server = Str(metadata={"description": "The mailcow server whose queue holds it"})


class QueueSchema(Response):
    total = Int()
    data = Many(QueueItemSchema)
    fetched_at = Time(nullable=True)
    stale = Bool(optional=True, metadata={"description": "Present (true) when mailcow was too slow to answer and "
                                           "this is its last answer, from fetched_at"})
    unavailable_servers = MapOf(Str(), optional=True, metadata={
        "description": "Servers that gave no answer (name -> why); the answer is the others'"})


class QuarantineItemSchema(Response):
    id = _f(fields.Raw, nullable=True, metadata={"description": "mailcow's id (an integer when numeric)"})
    subject = Str(nullable=True)
    sender = Str(nullable=True)
    recipients = StrList()
    created = Time(nullable=True)
    reason = Str()
    score = Num(nullable=True)
    action = Str(nullable=True)
    virus_flag = Bool()
    qid = Str(nullable=True)
    notified = Bool()
    server = Str(metadata={"description": "The mailcow server whose quarantine holds it"})


class QuarantineSchema(Response):
    total = Int()
    data = Many(QuarantineItemSchema)
    fetched_at = Time(nullable=True)
    stale = Bool(optional=True, metadata={"description": "Present (true) when mailcow was too slow to answer and "
                                           "this is its last answer, from fetched_at"})
    unavailable_servers = MapOf(Str(), optional=True, metadata={
        "description": "Servers that gave no answer (name -> why); the answer is the others'"})


# ------------------------------------------------------------------ status

class LiveAnswer(Response):
    """mailcow-backed answers: when mailcow is slow, its last answer, marked (mailcow_live.py)."""
    stale = Bool(optional=True, metadata={"description": "Present (true) when mailcow was too slow to answer and "
                                           "this is its last answer, from fetched_at"})
    unavailable_servers = MapOf(Str(), optional=True, metadata={
        "description": "Servers that gave no answer (name -> why); the answer is the others'"})
    fetched_at = Time(optional=True, metadata={"description": "When mailcow gave a stale answer"})


class ContainerSchema(Response):
    name = Str()
    state = Str()
    started_at = Time(nullable=True)
    image = Str(nullable=True)
    server = Str(metadata={"description": "The mailcow server it runs on (with several, containers are keyed server/name)"})


class ContainerSummarySchema(Response):
    running = Int()
    stopped = Int()
    total = Int()
    states = MapOf(fields.Integer(strict=True), metadata={"description": "Containers per state"})
    not_running = StrList(metadata={"description": "Names of the containers that are not running"})


class ContainersSchema(LiveAnswer):
    containers = MapOf(fields.Nested(ContainerSchema), metadata={"description": "By mailcow service name"})
    summary = One(ContainerSummarySchema)


class StorageSchema(LiveAnswer):
    disk = Str()
    used = Str()
    total = Str()
    used_percent = Str()
    server = Str(optional=True, metadata={"description": "With several servers: whose disk this is (the fullest)"})
    servers = MapOf(fields.Dict(), optional=True, metadata={"description": "With several servers: each one's disk"})


class ReleaseSchema(LiveAnswer):
    current_version = Str()
    latest_version = Str(nullable=True)
    update_available = Bool()
    changelog = Str(nullable=True)
    last_checked = Time(nullable=True)
    published_at = Str(nullable=True)
    release_url = Str(nullable=True)
    error = Str(nullable=True, metadata={"description": "Why the last release check failed"})
    servers = MapOf(fields.Dict(), optional=True, metadata={
        "description": "mailcow, with several servers: each one's current_version and update_available"})


class ActiveCountsSchema(Response):
    total = Int()
    active = Int()


class MailcowInfoSchema(LiveAnswer):
    domains = One(ActiveCountsSchema)
    mailboxes = One(ActiveCountsSchema)
    aliases = One(ActiveCountsSchema)


class StorageBriefSchema(Response):
    used_percent = Str()
    used = Str()
    total = Str()


class SystemCountsSchema(Response):
    domains = Int()
    mailboxes = Int()
    aliases = Int()


class StatusSummarySchema(LiveAnswer):
    containers = One(ContainerSummarySchema)
    storage = One(StorageBriefSchema)
    system = One(SystemCountsSchema)
