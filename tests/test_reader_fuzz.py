"""Fuzzing the one strict reader: any bytes give a finding or a usage error, never an exception.

Bounded (hypothesis, a fixed number of examples, no deadline): lines drawn as
raw bytes, as JSON of any shape (deep nesting included), and as valid records
with one edit. ``decode_record`` must return a Record or a DecodeFailure,
``verify_bytes`` a report, and the CLI readers an exit code with a message
and no traceback.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.cli import main
from schemalog.encoding.codec import MAX_NESTING, DecodeFailure, Record, decode_record
from schemalog.log.store.verify import verify_bytes
from test_golden import read_golden

GOOD = [bytes.fromhex(v["record_hex"]) for v in read_golden()]

json_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "deep", "edit", "good"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300)).replace(b"\n", b" ")
    if kind == "json":
        return json.dumps(draw(json_any)).encode()
    if kind == "deep":
        depth = draw(st.integers(MAX_NESTING - 2, 3000))
        open_, close = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        body = open_ * depth + "1" + close * draw(st.integers(0, depth))
        return body.encode()
    line = bytearray(draw(st.sampled_from(GOOD)))
    if kind == "edit":
        at = draw(st.integers(0, len(line) - 1))
        line[at : at + draw(st.integers(0, 3))] = draw(st.binary(max_size=3)).replace(b"\n", b"")
    return bytes(line)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(lines(), min_size=1, max_size=4), st.booleans())
def test_decoder_and_verify_never_raise(log: list[bytes], torn: bool) -> None:
    for position, line in enumerate(log):
        result = decode_record(line, position)
        assert type(result) in (Record, DecodeFailure)
    data = b"\n".join(log) + (b"" if torn else b"\n")
    report = verify_bytes(data)
    assert report.ok or report.problem is not None


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(lines(), min_size=1, max_size=3), st.sampled_from(["verify", "log", "schema"]))
def test_cli_readers_give_a_finding_or_usage_error(
    tmp_path_factory: Any, log: list[bytes], command: str
) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "log.ndjson"
    path.write_bytes(b"\n".join(log) + b"\n")
    for extra in ([], ["--json"]):
        code, out, err = run_cli(command, str(path), *extra)
        assert code in (0, 1, 2), (code, out, err)
        assert "Traceback" not in out + err
        if code and extra:  # --json: the error is one JSON object on stdout
            assert json.loads(out)["ok"] is False


def test_deep_nesting_is_a_decode_error_naming_the_line() -> None:
    line = b"[" * 1000 + b"]" * 1000
    result = decode_record(line, 4)
    assert isinstance(result, DecodeFailure) and "nested deeper" in result.reason
    report = verify_bytes(GOOD[0] + b"\n" + line + b"\n")
    assert report.problem is not None
    assert (report.problem.line_number, report.problem.position) == (2, 1)
