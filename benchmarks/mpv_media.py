"""Test media for mpv, made by ffmpeg on demand (never committed).

``testsrc2`` with the frame number burned in, 25 fps, H.264 with a keyframe
every 2 s, and a silent AAC track: what a real file has (seeks land between
keyframes, audio drives mpv's clock), small enough to make in a second or two.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

__all__ = ["FPS", "make_clip"]

FPS = 25


def make_clip(path: pathlib.Path, seconds: float = 60.0) -> pathlib.Path:
    """Write the clip to ``path`` (if it is not there yet) and return ``path``.

    :raises FileNotFoundError: ffmpeg is not installed.
    :raises subprocess.CalledProcessError: ffmpeg failed.
    """
    if path.exists():
        return path
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg not found (apt-get install ffmpeg)")
    source = f"testsrc2=size=320x240:rate={FPS}:duration={seconds}"
    counter = "drawtext=text='%{n}':fontsize=48:x=10:y=10:fontcolor=white:box=1"
    partial = path.with_suffix(".part" + path.suffix)
    try:
        _encode(ffmpeg, f"{source},{counter}", seconds, partial)
    except subprocess.CalledProcessError:
        _encode(ffmpeg, source, seconds, partial)  # an ffmpeg without fonts: no counter
    # Written aside and renamed, so an interrupted run leaves no half clip behind.
    partial.rename(path)
    return path


def _encode(ffmpeg: str, video: str, seconds: float, partial: pathlib.Path) -> None:
    subprocess.run(
        [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", video,
            "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "32k",
            str(partial),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
