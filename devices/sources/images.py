"""Image files, folders and globs: frames in sorted path order."""

from __future__ import annotations

import fnmatch
import functools
import glob
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from edge_sdk.errors import ImageError, SourceError
from edge_sdk.frame import Frame
from edge_sdk.image import load_image

from .base import Source, SourceState
from .options import check_options, parse_fps, parse_size

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})


def _match_parts(parts: list[str], pats: list[str]) -> bool:
    """Whether path components ``parts`` match glob components ``pats`` (``**``: any depth).

    Dynamic programming over (part, pattern) positions, so it is polynomial however many
    ``**`` there are. Hidden names match only patterns that start with a dot, as in ``glob``.
    """

    @functools.cache
    def go(i: int, j: int) -> bool:
        if j == len(pats):
            return i == len(parts)
        if pats[j] == "**":
            if go(i, j + 1):
                return True
            return i < len(parts) and not parts[i].startswith(".") and go(i + 1, j)
        if i == len(parts):
            return False
        name, pat = parts[i], pats[j]
        if name.startswith(".") and not pat.startswith("."):
            return False
        return fnmatch.fnmatchcase(name, pat) and go(i + 1, j + 1)

    return go(0, 0)


def recursive_glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)`` that never follows a symbolic link to a folder.

    ``glob`` descends into linked folders, so a link to a parent folder makes ``**`` loop until
    the path is too long, and two such links make it run for hours. This walks the tree with
    ``os.walk(followlinks=False)`` instead; files reached through links to files still match.
    """
    if "**" not in pattern:
        return glob.glob(pattern)
    parts = pattern.split("/")
    i = 0
    while i < len(parts) and not glob.has_magic(parts[i]):
        i += 1
    prefix = "/".join(parts[:i])
    if i and not prefix:
        prefix = "/"
    pats = [q for q in parts[i:] if q]
    out: list[str] = []
    root = prefix or "."
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel_folder = os.path.relpath(folder, root)
        base = [] if rel_folder == "." else rel_folder.split(os.sep)
        for name in files + [d for d in dirs if not os.path.islink(os.path.join(folder, d))]:
            rel = [*base, name]
            if _match_parts(rel, pats):
                out.append(os.path.join(prefix, *rel) if prefix else os.path.join(*rel))
    return out


def expand_images(uri: str) -> tuple[list[Path], bool]:
    """Return the image paths ``uri`` names, sorted, and whether it named one explicit file.

    Raises:
        SourceError: the path does not exist, or the folder/glob holds no images.
    """
    p = Path(uri)
    if p.is_file():
        return [p], True
    if p.is_dir():
        paths = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise SourceError(
                f"folder {p} holds no images (expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return paths, False
    if glob.has_magic(uri):
        paths = sorted(Path(q) for q in recursive_glob(uri) if os.path.isfile(q))
        if not paths:
            raise SourceError(f"glob {uri!r} matches no files")
        return paths, False
    raise SourceError(f"no such file, folder or source: {uri}")


class ImageSource(Source):
    """Frames from one image, a folder of images, or a glob, in sorted order.

    Files in a folder or glob that fail to decode are skipped, counted in ``skipped`` and
    logged as a warning. An explicitly named file that fails to decode raises ImageError.
    ``Frame.timestamp`` is the file's position (index) in the list, in seconds, so results are
    reproducible; ``Frame.source`` is the file path.
    """

    live = False

    def __init__(self, uri: str, **options: object) -> None:
        super().__init__(uri)
        # Accepted for a uniform open_source() call; still images are neither resized nor paced.
        check_options(uri, options, {"size", "fps"})
        parse_size(uri, options.get("size"))
        parse_fps(uri, options.get("fps"))
        self.paths, self.explicit = expand_images(uri)
        self.state = SourceState.CONNECTED

    def frames(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            if self.state is SourceState.ENDED:
                return
            try:
                image = load_image(path)
            except ImageError as exc:
                if self.explicit:
                    raise
                self.skipped += 1
                log.warning("skipping %s: %s", path, exc)
                continue
            yield Frame(image, index, float(index), str(path))
            index += 1
        self.state = SourceState.ENDED
