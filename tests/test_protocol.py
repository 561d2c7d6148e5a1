"""The control socket's protocol as pure functions: a client's bytes in, a Request out, never an
exception; answers bounded; strict JSON (no NaN, Infinity or overflowing numbers)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.daemon.protocol import (INVALID_PARAMS, INVALID_REQUEST, MAX_MESSAGE_TEXT, METHOD_PARAMS, PARSE_ERROR,
                                       Encoded, Request, encode_message, parse_request)
from netwarden.jsontext import loads
from netwarden.target import one_line

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                                  max_size=4), max_leaves=12)


def well_formed(request: Request) -> bool:
    if request.error is not None:
        return isinstance(request.error[0], int) and isinstance(request.error[1], str)
    return (isinstance(request.method, str) and isinstance(request.params, dict)
            and (request.id is None or isinstance(request.id, (str, int)) and not isinstance(request.id, bool)))


@settings(max_examples=3000)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_request_or_a_refusal_never_an_exception(line):
    assert well_formed(parse_request(line))


@settings(max_examples=3000)
@given(st.fixed_dictionaries({}, optional={"jsonrpc": SCALARS | st.just("2.0"), "method": SCALARS,
                                           "params": JSON_VALUES, "id": JSON_VALUES}))
def test_request_shaped_json_gives_a_request_or_a_refusal(body):
    request = parse_request(json.dumps(body).encode())  # json.dumps writes NaN and Infinity: refused, not raised
    assert well_formed(request)
    answer = json.loads(encode_message(request.id, error=request.error) if request.error else encode_message(request.id, {}))
    assert answer["jsonrpc"] == "2.0"


@pytest.mark.parametrize("depth", [10, 1000, 3000, 5000, 100000])
@pytest.mark.parametrize("shape", ["[", '{"a":', '{"jsonrpc":"2.0","method":"status","id":1,"params":{"a":'])
def test_nesting_of_any_depth_is_a_request_or_a_refusal(depth, shape):
    closing = {"[": "]", '{"a":': "}"}.get(shape, "}")
    for line in ((shape * depth).encode(), (shape * depth + "1" + closing * depth).encode()):
        request = parse_request(line)
        assert well_formed(request)
        if depth >= 100000 and line.endswith(b"}"):  # too deep for the parser (3.11's stops near 1,000)
            assert request.error == (PARSE_ERROR, "parse error: not JSON (nested too deep)")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1" * 5000])
def test_non_finite_and_overflowing_numbers_are_not_json(token):
    with pytest.raises(ValueError):
        loads(token)
    request = parse_request(b'{"jsonrpc":"2.0","method":"history","params":{"limit":' + token.encode() + b'},"id":1}')
    assert request.error[0] == PARSE_ERROR and len(request.error[1]) < 120


def test_refusals_keep_the_id_when_they_can():
    assert parse_request(b'{"jsonrpc":"2.0","method":"status","params":[1],"id":"x"}') == \
        Request("status", {}, "x", False, (INVALID_PARAMS, "params must be an object"))
    assert parse_request(b'{"jsonrpc":"2.0","method":"status","params":5}').notification  # no id: no answer
    assert parse_request(b'{"jsonrpc":"2.0","method":"status","id":1.5}').error[0] == INVALID_REQUEST
    assert parse_request(b'{"jsonrpc":"2.0","method":"status","id":null}') == Request("status", {}, None, False)


def test_answers_are_one_line_and_an_error_message_is_clipped():
    line = encode_message("x" * 10, error=(-32601, "no such method: " + "m" * 100000))
    answer = json.loads(line)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert len(answer["error"]["message"]) == MAX_MESSAGE_TEXT and answer["id"] == "x" * 10
    assert json.loads(encode_message(7, Encoded(b'{"a":[1,2]}'))) == {"jsonrpc": "2.0", "id": 7, "result": {"a": [1, 2]}}
    assert b"\\ud800" in encode_message("\ud800", {})  # a lone surrogate goes back escaped, not as broken UTF-8


@settings(max_examples=2000)
@given(st.text(), st.integers(1, 600))
def test_a_message_is_one_line_of_text_at_most_its_limit_and_cut_only_between_characters(text, limit):
    """What the server sends and what the CLI prints of an answered error (one_line)."""
    whole = one_line(text, 10**9)
    shown = one_line(text, limit)
    assert shown.isprintable() and len(shown) <= limit
    assert shown == whole if len(whole) <= limit else (shown.endswith("…") and whole.startswith(shown[:-1]))
    if text.isprintable():
        assert whole == text
    if len(whole) > limit:  # cut between characters, never inside an escape
        assert any(one_line(text[:n], 10**9) == shown[:-1] for n in range(len(text) + 1))


def test_an_error_quoting_a_client_s_bytes_goes_back_as_one_line_of_text():
    for method in ("a\nb", "\u001b[2J", "x\u2028y", "\u009b"):
        message = json.loads(encode_message(1, error=(-32601, f"no such method: {method}")))["error"]["message"]
        assert message.isprintable() and message.startswith("no such method: "), message
    request = parse_request(line("status", {"a\nb\u001b": 1}))
    assert request.error[1].isprintable() and "a\\nb\\x1b" in request.error[1], request.error


def line(method: str, params) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()


@pytest.mark.parametrize("method", sorted(METHOD_PARAMS))
def test_a_param_a_method_does_not_take_is_refused_naming_it(method):
    """`history {"bogus": 1}` was answered as if it were not there."""
    for params in ({"bogus": 1}, {"": 1}, {"x" * 10000: 1}, {name.upper(): 1 for name in METHOD_PARAMS[method]}
                   or {"LIMIT": 1}):
        request = parse_request(line(method, params))
        assert request.error is not None and request.error[0] == INVALID_PARAMS, (params, request)
        assert method in request.error[1] and len(request.error[1]) < 300, request.error
    known = {name: None for name in METHOD_PARAMS[method]}
    assert parse_request(line(method, known)) == Request(method, known, 1, False)


def test_a_method_this_netwarden_does_not_have_is_left_to_method_not_found():
    assert parse_request(line("nope", {"bogus": 1})) == Request("nope", {"bogus": 1}, 1, False)
