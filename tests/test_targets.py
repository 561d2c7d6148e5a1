"""Targets (`host:port`): names by DNS rules, addresses parsed, ports 1-65535; whatever passes can
be probed (issue #11: a 64-character label passed validation, then crashed the DNS probe)."""

import socket

import dns.message
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netwarden.config import Settings
from netwarden.config_rules import SettingError
from netwarden.target import Target

LABEL_63 = "a" * 63
NAME_253 = ".".join([LABEL_63] * 3 + ["a" * 61])
assert len(NAME_253) == 253


@pytest.mark.parametrize("text, host, port", [
    ("api.anthropic.com:443", "api.anthropic.com", 443),
    ("api.anthropic.com.:443", "api.anthropic.com", 443),  # fully qualified: one trailing dot
    ("localhost:1", "localhost", 1),
    ("_acme-challenge.example.com:65535", "_acme-challenge.example.com", 65535),  # underscores, as resolvers allow
    (f"{LABEL_63}.example:443", f"{LABEL_63}.example", 443),
    (f"{NAME_253}:443", NAME_253, 443),
    (f"{NAME_253}.:443", NAME_253, 443),
    ("xn--bcher-kva.example:443", "xn--bcher-kva.example", 443),
    ("198.18.0.2:443", "198.18.0.2", 443),
    ("[2001:db8::2]:443", "2001:db8::2", 443),
    ("[::1]:8443", "::1", 8443),
    ("[::ffff:198.18.0.2]:80", "::ffff:198.18.0.2", 80),
    ("a.b:0443", "a.b", 443),
])
def test_valid_targets_parse(text, host, port):
    assert Target.parse(text) == Target(host, port)


@pytest.mark.parametrize("text, words", [
    # names that break DNS rules (the probe crashed on the first two)
    (f"{'a' * 64}.example:443", "1 to 63"),
    ("a..b:443", "1 to 63"),
    ("..:443", "1 to 63"),
    (".:443", "1 to 253"),
    (":443", "1 to 253"),
    (f"{NAME_253}a:443", "1 to 253"),
    ("-a.example:443", "hyphen"),
    ("a-.example:443", "hyphen"),
    ("a b:443", "letters"),
    ("a/b:443", "letters"),
    ("a\x00b:443", "letters"),
    ("a\nb:443", "letters"),
    ("bücher.example:443", "xn--"),  # localized: its ASCII form, please
    ("a.example..:443", "1 to 63"),  # one trailing dot only
    # addresses: parsed, IPv6 only in brackets, no zone
    ("[:::]:443", "not an IPv6 address"),
    ("[foo]:443", "not an IPv6 address"),
    ("[]:443", "not an IPv6 address"),
    ("[1.2.3.4]:443", "without brackets"),
    ("[fe80::1%eth0]:443", "zone"),
    ("2001:db8::2:443", "brackets"),
    ("::1:443", "brackets"),
    ("1.2.3:443", "not an IPv4 address"),
    ("256.1.1.1:443", "not an IPv4 address"),
    ("0x7f.1:443", "not an IPv4 address"),
    ("1.2.3.4.5:443", "not an IPv4 address"),
    # ports
    ("a.example", "not host:port"),
    ("", "not host:port"),
    ("a.example:", "port"),
    ("a.example:0", "port"),
    ("a.example:65536", "port"),
    ("a.example:-1", "port"),
    ("a.example:+443", "port"),
    ("a.example: 443", "port"),
    ("a.example:٤٤٣", "port"),  # Arabic-Indic digits: int() takes them, a socket does not
    ("a.example:4" + "0" * 5000, "port"),
    ("a.example:https", "port"),
])
def test_invalid_targets_are_refused_naming_the_target(text, words):
    with pytest.raises(ValueError) as e:
        Target.parse(text)
    message = str(e.value)
    assert words in message and message.startswith("target ") and "\n" not in message
    assert len(message) < 250  # a huge target does not drown the message
    with pytest.raises(SettingError) as e:
        Settings(targets=(text,))
    assert e.value.key == "targets"


def test_at_most_64_targets():
    Settings(targets=tuple(f"t{i}.example:443" for i in range(64)))
    with pytest.raises(SettingError, match="at most 64"):
        Settings(targets=tuple(f"t{i}.example:443" for i in range(65)))


@given(st.text(max_size=300))
def test_parse_never_raises_anything_but_value_error(text):
    try:
        Target.parse(text)
    except ValueError as e:
        assert "\n" not in str(e)


HOSTISH = st.text(alphabet="abcz09-_.:[]%", max_size=80)


@given(HOSTISH, st.integers(-1, 70000))
def test_whatever_parses_is_what_a_probe_can_take(host, port):
    """Every accepted target: a port a socket takes, and a host that is an address inet_pton
    parses or a name the DNS probe can put in a query."""
    try:
        target = Target.parse(f"{host}:{port}")
    except ValueError:
        return
    assert 0 < target.port < 65536
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, target.host)
            return
        except OSError:
            pass
    labels = target.host.split(".")
    assert len(target.host) <= 253 and all(0 < len(label) <= 63 for label in labels)
    assert not labels[-1].isdigit()
    dns.message.make_query(target.host, "A")  # what dns.resolvers' probe builds (it raised LabelTooLong)
