"""Pure log parsers: Postfix messages, netfilter messages, Rspamd history rows, syslog lines."""

from .netfilter import NetfilterEvent, parse_netfilter
from .postfix import KINDS, PostfixEvent, parse_postfix
from .rspamd import RspamdRecord, RspamdRowError, map_rspamd_row
from .syslog import SyslogLine, is_postfix_program, parse_syslog_line

__all__ = [
    "KINDS", "PostfixEvent", "parse_postfix",
    "NetfilterEvent", "parse_netfilter",
    "RspamdRecord", "RspamdRowError", "map_rspamd_row",
    "SyslogLine", "is_postfix_program", "parse_syslog_line",
]
