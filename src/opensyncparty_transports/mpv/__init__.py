"""mpv as a synchronised player: JSON IPC on anyio, and the ``opensyncparty-mpv`` command.

:func:`open_mpv` starts mpv on a file and yields an :class:`MpvPlayer`, the
player interface :class:`~opensyncparty_core.SyncClient` drives (status in,
commands out, play/pause/seek reports). :class:`Party` keeps any such
:class:`Player` in a room over a :class:`~opensyncparty_transports.ClientConnection`.
:class:`MpvIpc` is the bare IPC connection; :class:`MpvState` turns what mpv
says into a media clock, without I/O.
"""

from ._cli import main
from ._ipc import MpvError, MpvIpc
from ._party import Party, PartyError, Player
from ._player import HEADLESS, MpvPlayer, monotonic_ms, open_mpv
from ._state import MpvState, PlayerReport

__all__ = [
    "HEADLESS",
    "MpvError",
    "MpvIpc",
    "MpvPlayer",
    "MpvState",
    "Party",
    "PartyError",
    "Player",
    "PlayerReport",
    "main",
    "monotonic_ms",
    "open_mpv",
]
