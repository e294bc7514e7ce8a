"""Image files into the model's input: any picture Pillow reads, as the HDF5 set stored its pixels.

A model remembers the shape and dtype of its training examples (``(64, 64, 3)`` ``uint8`` for the
cat files) and the number its pixels were divided by. An image file is read, its first frame
taken (GIF, TIFF, ...), turned the right way up (EXIF orientation), converted to the model's mode
(RGB, RGBA or grayscale), resized to the model's height and width, and stored in the model's dtype;
from there it takes exactly the path an HDF5 example takes (:meth:`Dataset.columns`), so the same
pixels give the same columns, bit for bit, and the same prediction.

Value ranges: for an integer dtype, 8-bit images keep their values 0..255 (``uint16``: scaled by
257 to 0..65535) and 16-bit images are scaled down to 0..255 (rounded) unless the model's dtype is
``uint16``. A model trained on float examples gets pixels as fractions in [0, 1] (value / 255, or
/ 65535 for 16 bits), the usual range of float image data; the file cannot say otherwise.
Transparency is dropped (the colour values are kept as they are).

Resizing (``resize``, recorded in a data file by ``dnn data import`` and in the model trained on
it): ``squash`` stretches the whole picture to the target size (the aspect ratio may change);
``crop`` keeps the largest centred part with the target's aspect ratio, then resizes it; ``pad``
resizes the whole picture to fit inside the target and fills the borders with black (and
transparent, for RGBA). Resampling is bilinear in every case.

This module is the one place image files become pixels: ``dnn predict`` and ``dnn data import``
both call :func:`load_image`, so a picture gives the same pixels through either.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from dnncli.data.hdf5 import DEFAULT_RESIZE, RESIZE_MODES, Dataset
from dnncli.files.userfile import read_regular
from dnncli.errors import DataError
from dnncli.terminal.display import printable

# A 40-megapixel photo is accepted; a "decompression bomb" (a small file that expands to
# gigabytes of pixels) is refused before its pixels are decoded.
DEFAULT_MAX_PIXELS = 40_000_000

# Pillow modes whose values go beyond 8 bits
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

_MODE_FOR_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}



def image_mode(input_shape: tuple[int, ...]) -> str:
    """The Pillow mode a model's input shape stands for, or a DataError if it is not a picture."""
    if len(input_shape) == 2:
        return "L"
    if len(input_shape) == 3 and input_shape[2] in _MODE_FOR_CHANNELS:
        return _MODE_FOR_CHANNELS[input_shape[2]]
    raise DataError(
        f"the model takes examples of shape {tuple(input_shape)}, which are not images "
        "(expected (height, width), (height, width, 1), (height, width, 3) or (height, width, 4))"
    )


# The raster formats decoded, and no others: Pillow would hand PostScript (EPS) to Ghostscript,
# and its rarer plugins are more attack surface than use. A file in any other format is refused.
RASTER_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "TGA", "ICO", "PCX", "QOI")

# An image file larger than this is refused before it is read (a picture of the pixel limit
# in 16-bit RGBA, uncompressed, is far below it).
MAX_IMAGE_BYTES = 1 << 30


def image_extensions() -> set[str]:
    """File extensions of pictures Pillow can decode (``.png``, ``.jpg``, ...), lower case. Stub
    formats are left out: Pillow only identifies HDF5 (``.h5``), GRIB, BUFR, ... files, so a
    directory's data sets are not mistaken for its pictures."""
    from PIL import Image, ImageFile

    Image.init()
    decoded = {
        fmt for fmt, (factory, _) in Image.OPEN.items()
        if fmt in RASTER_FORMATS and not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
    }
    return {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in decoded}


def read_image_bytes(path: Path) -> bytes:
    """The bytes of the image file ``path``, read once (what is hashed is what is decoded); a
    DataError for anything but a regular file of a plausible size."""
    return read_regular(path, MAX_IMAGE_BYTES, "an image file", DataError)


def _open(path: Path, max_pixels: int, data: bytes | None = None):  # -> PIL.Image.Image, fully decoded
    from PIL import Image, UnidentifiedImageError

    if data is None:
        data = read_image_bytes(path)
    try:
        with warnings.catch_warnings():
            # Pillow's own check (a warning above 89 megapixels, an error above twice that) is
            # an error here at any size; ours, on the size the header declares, comes next.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
                Image.MAX_IMAGE_PIXELS = max_pixels  # the user asked for more than Pillow allows
            image = Image.open(io.BytesIO(data), formats=RASTER_FORMATS)
            try:
                width, height = image.size
                if width * height > max_pixels:
                    raise DataError(
                        f"{printable(path)}: refused as a possible decompression bomb: {width}x{height} = "
                        f"{width * height} pixels, more than the limit of {max_pixels} (raise "
                        "--max-pixels if the image is genuine)"
                    )
                image.seek(0)  # the first frame of an animation
                image.load()
            except BaseException:
                image.close()
                raise
            return image
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(
            f"{printable(path)}: not an image in a format dnn reads ({', '.join(RASTER_FORMATS)})"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"{printable(path)}: refused as a possible decompression bomb: {_detail(exc)} (raise --max-pixels "
            "if the image is genuine)"
        ) from None
    except Exception as exc:  # a decoder fed a hostile file can raise anything: name the file
        raise DataError(f"{printable(path)}: cannot read the image: {_detail(exc)}") from None


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return printable(text) or type(exc).__name__


def fit_to_size(image, size: tuple[int, int], resize: str = DEFAULT_RESIZE):  # PIL images
    """``image`` at ``size`` (width, height), by one of :data:`RESIZE_MODES`."""
    from PIL import Image

    if image.size == size:
        return image
    width, height = image.size
    target_width, target_height = size
    if resize == "squash":
        return image.resize(size, Image.Resampling.BILINEAR)
    if resize == "crop":
        # the largest centred box with the target's aspect ratio (integer pixels)
        if width * target_height > height * target_width:  # wider than the target
            box_width, box_height = max(1, round(height * target_width / target_height)), height
        else:
            box_width, box_height = width, max(1, round(width * target_height / target_width))
        left, top = (width - box_width) // 2, (height - box_height) // 2
        image = image.crop((left, top, left + box_width, top + box_height))
        return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)
    if resize == "pad":
        scale = min(target_width / width, target_height / height)
        inner = (
            min(target_width, max(1, round(width * scale))),
            min(target_height, max(1, round(height * scale))),
        )
        if inner != image.size:
            image = image.resize(inner, Image.Resampling.BILINEAR)
        canvas = Image.new(image.mode, size, 0)  # black; transparent black for RGBA
        canvas.paste(image, ((target_width - inner[0]) // 2, (target_height - inner[1]) // 2))
        return canvas
    raise DataError(f"resize = '{printable(str(resize))}', expected one of {', '.join(RESIZE_MODES)}")


def _to_array(image, mode: str, size: tuple[int, int], dtype: np.dtype, resize: str) -> np.ndarray:
    """Pixels of ``image`` as ``(height, width[, channels])`` in ``dtype``, resized to ``size``."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    if dtype.kind == "f":
        fractions = _to_array(image, mode, size, np.dtype(np.uint16), resize) / 65535.0
        return fractions.astype(dtype)
    wide = image.mode in _WIDE_MODES
    if wide:
        # 16-bit (or 32-bit) grayscale: keep every bit through the resize, reduce the range after.
        work = image.convert("F") if image.mode != "F" else image
        work = fit_to_size(work, size, resize)
        values = np.asarray(work, dtype=np.float64)
        if not np.isfinite(values).all():  # a float TIFF: NaN or infinity has no pixel value
            raise DataError("its pixels include NaN or infinite values, which no pixel value stands for")
        if image.mode != "F" or values.max(initial=0) > 255:
            values = values if dtype == np.uint16 else values / 257.0
        values = np.clip(np.rint(values), 0, 65535 if dtype == np.uint16 else 255)
        if mode != "L":
            values = np.repeat(values[:, :, None], len(mode), axis=2)
            if mode == "RGBA":
                values[:, :, 3] = 65535 if dtype == np.uint16 else 255
        return values.astype(dtype)

    if image.mode != mode:
        # Palette images with transparency go through RGBA, as Pillow asks.
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        image = image.convert(mode)
    image = fit_to_size(image, size, resize)
    values = np.asarray(image)
    if dtype == np.uint16:
        return values.astype(np.uint16) * np.uint16(257)
    return values.astype(dtype)


def load_image(
    path: str | Path,
    input_shape: tuple[int, ...],
    input_dtype: str | np.dtype = "uint8",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    resize: str = DEFAULT_RESIZE,
    data: bytes | None = None,
) -> np.ndarray:
    """One image file as an example of shape ``input_shape`` and dtype ``input_dtype``, resized
    by ``resize`` (one of :data:`RESIZE_MODES`); ``data``: the file's bytes, if already read.

    Raises a DataError naming the file for anything that is not a readable, complete image.
    """
    path = Path(path)
    mode = image_mode(tuple(input_shape))
    dtype = np.dtype(input_dtype)
    if resize not in RESIZE_MODES:
        raise DataError(f"resize = '{printable(str(resize))}', expected one of {', '.join(RESIZE_MODES)}")
    with warnings.catch_warnings():
        # Pillow's warnings about a damaged file (bad EXIF tags, short reads) would be multi-line
        # noise on stderr: the file is either decoded or refused with one line.
        warnings.simplefilter("ignore", UserWarning)
        image = _open(path, max_pixels, data)
        try:
            height, width = int(input_shape[0]), int(input_shape[1])
            values = _to_array(image, mode, (width, height), dtype, resize)
        except Exception as exc:  # as in _open: a broken file (EXIF, palette) may fail late
            raise DataError(f"{printable(path)}: cannot convert the image: {_detail(exc)}") from None
        finally:
            image.close()
    return values.reshape(input_shape)


def images_to_columns(
    examples: list[np.ndarray], divisor: float, dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """Stacked examples as ``X`` of shape ``(n_x, m)``, scaled exactly as an HDF5 set is."""
    raw = np.stack(examples)
    return Dataset(X_raw=raw, y=None, classes=None, source="").columns(divisor, dtype)
