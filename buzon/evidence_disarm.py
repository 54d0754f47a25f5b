"""A copy of an evidence file that is safe to open and betrays nobody.

A citizen's file may carry active content (a PDF with JavaScript, embedded
files, actions that run on opening) or an image that declares 100,000 × 100,000
pixels to exhaust the viewer; and metadata that identifies the denunciante (the
GPS position and phone model in a photo's EXIF, the author of a PDF). Staff get
this copy by default; the original stays encrypted, with its keyed hash, and
opening it is a separate, audited action.

- Images: decoded with Pillow under a pixel limit, re-encoded from the pixels
  alone (no EXIF, no ICC profile, no text chunks).
- PDFs: opened with pikepdf (qpdf); the document catalogue's JavaScript, open
  actions, additional actions, embedded files, XFA forms and the document's
  metadata (Info dictionary and XMP) are removed, and so are every page's actions
  and link annotations that launch anything but a web address.

>>> from tests import synthetic_files
>>> disarm("png", synthetic_files.png())[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io

import pikepdf
from PIL import Image

from buzon.validation import Invalid

# A large phone photo has about 50 million pixels; past this a file is a trap.
MAX_PIXELS = 80_000_000
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG"}
CATALOG_KEYS = ("/OpenAction", "/AA", "/Names", "/AcroForm", "/Metadata", "/JavaScript")
PAGE_KEYS = ("/AA",)


def disarm(kind: str, content: bytes) -> bytes:
    """The disarmed copy of a file of ``kind`` ('pdf', 'jpg' or 'png'); Invalid if it cannot be."""
    if kind in IMAGE_FORMATS:
        return _image(kind, content)
    if kind == "pdf":
        return _pdf(content)
    raise Invalid("evidence_type")


def _image(kind: str, content: bytes) -> bytes:
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > MAX_PIXELS:
                raise Invalid("evidence_too_many_pixels")
            image.load()
            if kind == "jpg" or image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                pixels = image.convert("RGB")
            else:
                pixels = image.copy()
    except (OSError, SyntaxError, Image.DecompressionBombError, ValueError) as error:
        raise Invalid("evidence_damaged") from error
    # Only the pixels (and a palette) cross over: no EXIF, no ICC profile, no text.
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    if pixels.mode == "P":
        clean.putpalette(pixels.getpalette() or [])
    output = io.BytesIO()
    clean.save(output, format=IMAGE_FORMATS[kind], **({"quality": 90} if kind == "jpg" else {}))
    return output.getvalue()


def _pdf(content: bytes) -> bytes:
    try:
        with pikepdf.open(io.BytesIO(content)) as pdf:
            root = pdf.Root
            for key in CATALOG_KEYS:
                if key in root:
                    del root[key]
            if "/Info" in pdf.trailer:
                del pdf.trailer["/Info"]
            for page in pdf.pages:
                for key in PAGE_KEYS:
                    if key in page.obj:
                        del page.obj[key]
                if "/Annots" in page.obj:
                    kept = pikepdf.Array()
                    for annotation in page.obj.Annots:
                        action = annotation.get("/A")
                        if action is not None and action.get("/S") not in (pikepdf.Name.URI, None):
                            continue  # Launch, JavaScript, SubmitForm, GoToR…
                        if "/AA" in annotation:
                            del annotation["/AA"]
                        kept.append(annotation)
                    page.obj.Annots = kept
            output = io.BytesIO()
            pdf.save(output, fix_metadata_version=False)
            return output.getvalue()
    except pikepdf.PdfError as error:
        raise Invalid("evidence_damaged") from error
