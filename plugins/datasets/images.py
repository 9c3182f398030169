"""A folder of PNG and JPEG files as a dataset: the layout of CelebA, ImageNet and users' own photos.

At validation the folder is indexed without decoding a pixel: every file's header gives its
format and size, and its last bytes show it is complete (PNG's IEND chunk, JPEG's end-of-image
marker), so a truncated download, a text file named ``.png`` or an unreadable file is named
before training starts, as are images of mixed sizes without ``size``, an empty folder and an
empty class folder. Decoding happens in ``read``, with ``tf.io``, in parallel and in a
deterministic order; a piece is one file, so every epoch visits the files in a fresh seeded order.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import tensorflow as tf

from genkit import ArrayData, Dataset, GenkitError, Stream

#: File endings read as images (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
# JPEG start-of-frame markers (baseline, progressive, lossless ...): they carry the image size
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: Skipped files named in the warning (the rest are counted).
NAMED_SKIPS = 5


class BadImage(Exception):
    """A file that is not a complete PNG or JPEG image (the message says why)."""


def _png_size(head: bytes, tail: bytes) -> tuple[int, int]:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise BadImage("its PNG header is cut short")
    if _PNG_END not in tail:
        raise BadImage("it is truncated (no PNG end chunk)")
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def _jpeg_size(handle: Any, tail: bytes) -> tuple[int, int]:
    """Walk the JPEG markers up to the first start-of-frame, which holds the size."""
    if b"\xff\xd9" not in tail:
        raise BadImage("it is truncated (no JPEG end-of-image marker)")
    handle.seek(2)
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise BadImage("its JPEG markers are corrupt")
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            handle.seek(-1, os.SEEK_CUR)
            continue
        if kind in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            raise BadImage("its JPEG header is cut short")
        (length,) = struct.unpack(">H", length_bytes)
        if kind in _JPEG_FRAMES:
            frame = handle.read(5)
            if len(frame) < 5:
                raise BadImage("its JPEG frame header is cut short")
            _, height, width = struct.unpack(">BHH", frame)
            return height, width
        handle.seek(length - 2, os.SEEK_CUR)


def image_size(path: str) -> tuple[int, int]:
    """(height, width) of a PNG or JPEG file from its header, after checking it is complete;
    :class:`BadImage` (or ``OSError``) if it is not a readable, complete image."""
    with open(path, "rb") as handle:
        head = handle.read(32)
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 64))
        tail = handle.read()
        if head.startswith(_PNG_SIGNATURE):
            size = _png_size(head, tail)
        elif head.startswith(b"\xff\xd8"):
            size = _jpeg_size(handle, tail)
        else:
            raise BadImage("it is neither a PNG nor a JPEG file")
    if min(size) < 1:
        raise BadImage(f"its header gives a size of {size[1]}x{size[0]}")
    return size


#: Files an index gathers as Python objects before it packs them into arrays (:class:`_Columns`).
INDEX_BLOCK = 4096


@dataclass
class FolderIndex:
    """The readable images of one folder, and the files skipped.

    A folder may hold millions of files, so its columns are packed arrays, not Python objects
    (a path as a ``str`` in a list, its size as a tuple and its label cost about 200 bytes a file,
    and a numpy array of ``str`` paths four bytes a character): ``paths`` the files' paths as the
    file system spells them (``os.fsencode``), fixed-width bytes, one byte a character; ``labels``
    int64 class indices (None without class folders); ``sizes`` int32 ``[N, 2]`` (height, width).
    """

    paths: np.ndarray
    labels: np.ndarray | None
    sizes: np.ndarray
    class_names: list[str]
    skipped: list[str]

    def path(self, row: int) -> str:
        """The path of the file in ``row`` as text (for messages)."""
        return os.fsdecode(self.paths[row])


class _Columns:
    """An index's columns gathered a file at a time and packed into arrays every
    :data:`INDEX_BLOCK` files, so only that many files are ever held as Python objects."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.paths: list[bytes] = []
        self.labels: list[int] = []
        self.sizes: list[tuple[int, int]] = []

    def add(self, path: str, label: int, size: tuple[int, int]) -> None:
        self.paths.append(os.fsencode(path))
        self.labels.append(label)
        self.sizes.append(size)
        if len(self.paths) == INDEX_BLOCK:
            self._pack()

    def _pack(self) -> None:
        if self.paths:
            self.blocks.append((np.array(self.paths, np.bytes_), np.array(self.labels, np.int64),
                                np.array(self.sizes, np.int32)))
            self.paths, self.labels, self.sizes = [], [], []

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(paths, labels, sizes) of every file added, in the order added."""
        self._pack()
        if not self.blocks:
            return np.array([], np.bytes_), np.zeros(0, np.int64), np.zeros((0, 2), np.int32)
        paths, labels, sizes = (np.concatenate(column) for column in zip(*self.blocks, strict=True))
        return paths, labels, sizes


def _image_files(folder: Path) -> Iterator[str]:
    """The path of every image file under ``folder``, in sorted order (hidden files and folders
    left out), one at a time: a folder of millions of files is never listed whole."""
    for root, directories, files in os.walk(folder):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                yield os.path.join(root, name)


def _has_images(folder: Path) -> bool:
    """Whether ``folder`` exists and holds an image file (the first one found ends the search)."""
    return next(_image_files(folder), None) is not None


def _png(image: np.ndarray) -> bytes:
    """One uint8 image ``[H, W, C]`` as PNG bytes (fast compression: written once, decoded often)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_folders(streams: dict[str, Stream], out: str | Path) -> dict[str, int]:
    """Write each split's stream as PNG files under ``out/<split>/`` (a subfolder per class when
    the examples have class labels, so ``labels: folders`` reads them back), with ``factors.csv``
    (file name, then one column per factor) when the stream has factors; return the counts.

    Examples are read a batch at a time (bounded memory) and encoded by a few threads (zlib
    releases the GIL); float values in [0, 1] are stored as 8-bit values.
    """
    written = {}
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        for split, stream in streams.items():
            root = Path(out) / split
            root.mkdir(parents=True, exist_ok=True)
            classes = stream.label_shape == () and stream.num_classes > 0
            names = list(stream.class_names) or [str(label) for label in range(stream.num_classes)]
            for name in names if classes else []:
                (root / name).mkdir(exist_ok=True)
            rows: list[str] = []
            for batch in stream.read(stream.pieces).batch(256).prefetch(1):
                x = batch["x"].numpy()
                if x.dtype != np.uint8:
                    x = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
                x = x[..., None] if x.ndim == 3 else x
                files = [f"{len(rows) + row:07d}.png" for row in range(len(x))]
                if classes:
                    labels = batch["y"].numpy()
                    files = [f"{names[int(label)]}/{file}" for label, file in zip(labels, files, strict=True)]
                for file, data in zip(files, pool.map(_png, x), strict=True):
                    (root / file).write_bytes(data)
                factors = batch["factors"].numpy() if "factors" in batch else None
                rows += [",".join([file, *(f"{v:.6g}" for v in factors[i])]) if factors is not None else file
                         for i, file in enumerate(files)]
            if stream.factor_names:
                (root / "factors.csv").write_text("\n".join([",".join(["file", *stream.factor_names]), *rows]) + "\n")
            written[split] = len(rows)
    return written


def _subfolders(root: Path) -> list[str]:
    """The names of a folder's visible subfolders, sorted."""
    return sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


class ImageFolder(Dataset):
    """PNG and JPEG images in a folder (searched recursively), optionally one subfolder per class.

    Loaded whole when the decoded images fit in memory; else (``data.stream: auto``) streamed, one
    file per piece, decoded in parallel with ``tf.io``. Images are uint8, scaled to [0, 1] by genkit.
    Relative paths are relative to the spec file.

    Args:
        path: the folder of training images.
        test_path: a folder of test images laid out the same way (optional).
        labels: ``folders``: each subfolder of ``path`` is a class (named by the subfolder, in
            sorted order); ``none``: no labels.
        size: resize every image so its shorter side is ``size`` pixels, then crop the centre
            ``size`` x ``size``; without it every image must have the same size.
        color: ``rgb`` (3 channels) or ``grayscale`` (1 channel); other images are converted.
        on_bad_file: ``error`` names the first unreadable or truncated file and stops; ``skip``
            leaves such files out and reports how many (and which) were skipped.
    """

    path_args: ClassVar[tuple[str, ...]] = ("path", "test_path")
    #: ``genkit data convert ... --to image_folder`` writes folders this dataset reads (:func:`write_folders`).
    write = staticmethod(write_folders)

    def __init__(self, path: str, test_path: str | None = None, labels: Literal["folders", "none"] = "none",
                 size: int | None = None, color: Literal["rgb", "grayscale"] = "rgb",
                 on_bad_file: Literal["error", "skip"] = "error"):
        if size is not None and size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.folders = {"train": path, "test": test_path}
        self.labels, self.size, self.on_bad_file = labels, size, on_bad_file
        self.channels = 3 if color == "rgb" else 1
        self._indexes: dict[str, FolderIndex] = {}

    # --- the index (validation) -------------------------------------------------------------------
    def index(self, split: str) -> FolderIndex:
        """The split's folder indexed (once): its files, labels and sizes, every file checked."""
        if split not in self._indexes:
            self._indexes[split] = self._index(split)
        return self._indexes[split]

    def _classes(self, split: str) -> list[str]:
        """The class names, in label order: the training folder's subfolders, sorted. Every split
        takes the training split's classes, so a label means the same class in each; a test folder
        may lack a class, but a class that training never saw is refused."""
        train_root = Path(str(self.folders["train"]))
        classes = _subfolders(train_root) if train_root.is_dir() else []
        if not classes:
            raise GenkitError(f"{train_root} has no class subfolders (data.labels: folders wants one subfolder of "
                              "images per class); put the images in class folders or set data.labels: none")
        if split != "train":
            root = Path(str(self.folders[split]))
            unknown = sorted(set(_subfolders(root)) - set(classes))
            if unknown:
                raise GenkitError(f"{root} has class folders the training folder {train_root} lacks: "
                                  f"{', '.join(unknown)}; a label must mean the same class in every split")
        return classes

    def _index(self, split: str) -> FolderIndex:
        folder = self.folders[split]
        if folder is None:
            raise GenkitError(f"no {split} split is configured (set data.test_path to a folder of test images)")
        root = Path(folder)
        if not root.is_dir():
            raise GenkitError(f"image folder not found: {root} (data.{'path' if split == 'train' else 'test_path'})")
        if self.labels == "folders":
            classes = self._classes(split)
            groups = [(label, root / name) for label, name in enumerate(classes)]
            for _, group in groups:
                if split == "train" and not _has_images(group):  # a test split may lack a class; training may not
                    raise GenkitError(f"class folder {group} holds no PNG or JPEG image; add images or remove "
                                      "the folder")
        else:
            classes, groups = [], [(0, root)]
        if not any(_has_images(group) for _, group in groups):
            raise GenkitError(f"{root} holds no PNG or JPEG image (looked for {', '.join(IMAGE_SUFFIXES)} files, "
                              "in subfolders too)")
        columns, skipped = _Columns(), []
        for label, group in groups:
            for file in _image_files(group):
                try:
                    size = image_size(file)
                except (BadImage, OSError) as err:
                    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                    if self.on_bad_file == "error":
                        raise GenkitError(f"cannot read image {file}: {reason}; remove or replace it, or set "
                                          "data.on_bad_file: skip to leave unreadable files out") from None
                    skipped.append(file)
                    continue
                columns.add(file, label, size)
        if skipped:
            named = ", ".join(skipped[:NAMED_SKIPS]) + (f" and {len(skipped) - NAMED_SKIPS} more"
                                                        if len(skipped) > NAMED_SKIPS else "")
            warnings.warn(f"image folder {root}: skipped {len(skipped)} unreadable image file"
                          f"{'s' if len(skipped) > 1 else ''} (data.on_bad_file: skip): {named}", stacklevel=2)
        paths, labels, sizes = columns.arrays()
        if not len(paths):
            raise GenkitError(f"{root}: none of its {len(skipped)} image files could be read")
        index = FolderIndex(paths, labels if self.labels == "folders" else None, sizes, classes, skipped)
        mixed = np.flatnonzero(np.any(sizes != sizes[0], axis=1))
        if self.size is None and len(mixed):
            other = int(mixed[0])
            (height, width), (other_height, other_width) = sizes[0].tolist(), sizes[other].tolist()
            raise GenkitError(f"the images in {root} have different sizes ({index.path(0)} is {width}x{height}, "
                              f"{index.path(other)} is {other_width}x{other_height}); set data.size to resize "
                              "and centre-crop every image to one square size")
        return index

    def example_shape(self, split: str = "train") -> tuple[int, int, int]:
        """(height, width, channels) of the examples as decoded."""
        height, width = (self.size, self.size) if self.size is not None else self.index(split).sizes[0].tolist()
        return height, width, self.channels

    # --- decoding (in the tf.data pipeline) ---------------------------------------------------------
    def _decoder(self, split: str) -> Any:
        """path -> uint8 image of :meth:`example_shape`, for ``Dataset.map``."""
        shape = self.example_shape(split)
        resize = self.size is not None and bool(np.any(self.index(split).sizes != self.size))

        def decode(path: tf.Tensor) -> tf.Tensor:
            image = tf.io.decode_image(tf.io.read_file(path), channels=self.channels, dtype=tf.uint8,
                                       expand_animations=False)
            if resize:
                image = _resize_and_crop(image, int(shape[0]))
            return tf.ensure_shape(image, shape)

        return decode

    def stream(self, split: str = "train") -> Stream:
        index = self.index(split)
        decode = self._decoder(split)
        paths, labels = index.paths, index.labels

        def read(pieces: Sequence[int]) -> tf.data.Dataset:
            chosen = np.asarray(pieces, np.int64)
            names = tf.data.Dataset.from_tensor_slices(paths[chosen])
            images = names.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            if labels is None:
                return images.map(lambda x: {"x": x})
            return tf.data.Dataset.zip(images, tf.data.Dataset.from_tensor_slices(labels[chosen])).map(
                lambda x, y: {"x": x, "y": y})

        return Stream(self.example_shape(split), "uint8", list(range(len(paths))), [1] * len(paths), read,
                      None if labels is None else (), len(index.class_names), list(index.class_names))

    def load(self, split: str = "train") -> ArrayData:
        return self.stream(split).to_arrays()


def _resize_and_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Scale so the shorter side is ``size`` (area-averaging when shrinking), crop the centre square."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    scale = size / tf.cast(tf.minimum(height, width), tf.float32)
    new_height = tf.maximum(size, tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32))
    new_width = tf.maximum(size, tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32))
    resized = tf.image.resize(image, tf.stack([new_height, new_width]), antialias=True)
    top, left = (new_height - size) // 2, (new_width - size) // 2
    cropped = resized[top : top + size, left : left + size]
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0.0, 255.0), tf.uint8)
