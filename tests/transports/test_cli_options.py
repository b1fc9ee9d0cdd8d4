"""``opensyncparty-server`` options for the extensions: resume grace and handover policy."""

from __future__ import annotations

import pytest

from opensyncparty_core import CloseOnHostLeave, Config, TransferToLongestPresent
from opensyncparty_transports._cli import build_parser, config_from, main


def test_defaults_are_the_cores() -> None:
    config = config_from(build_parser().parse_args([]))
    assert config == Config()
    assert config.handover_policy == CloseOnHostLeave()


def test_resume_grace_and_handover_are_set_from_the_command_line() -> None:
    args = build_parser().parse_args(["--resume-grace-ms", "0", "--handover", "transfer"])
    config = config_from(args)
    assert config.resume_grace_ms == 0
    assert config.handover_policy == TransferToLongestPresent()


def test_a_negative_grace_exits_2_without_serving() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--resume-grace-ms", "-1", "--port", "0"])
    assert exited.value.code == 2
