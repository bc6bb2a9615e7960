"""Reading a QR code off the portal's page with an independent decoder (zxing-cpp), so a test
proves that what the page draws scans, and says what it holds.

    from portal_qr import read_qr
    assert read_qr(portal, "canvas.qr") == presentation
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from portal_browser import Portal

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp is not installed (make install)")

# The canvas's pixels as grey levels (one byte each), read in the page.
_PIXELS = """
const canvas = document.querySelector(arguments[0]);
const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
const grey = new Uint8Array(canvas.width * canvas.height);
for (let i = 0; i < grey.length; i++) {
  grey[i] = Math.round((rgba[4 * i] * 299 + rgba[4 * i + 1] * 587 + rgba[4 * i + 2] * 114) / 1000);
}
let binary = '';
for (let i = 0; i < grey.length; i += 8192) {
  binary += String.fromCharCode.apply(null, grey.subarray(i, i + 8192));
}
return [canvas.width, canvas.height, btoa(binary)];
"""


@dataclass(frozen=True)
class ScannedQr:
    text: str
    ec_level: str


def scan_grey(width: int, height: int, grey: bytes) -> ScannedQr:
    """Decode the one QR code in a grey image (`width` x `height`, a byte a pixel)."""
    image = memoryview(grey).cast("B", (height, width))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"{len(found)} QR codes found in the image"
    return ScannedQr(text=found[0].text, ec_level=str(found[0].ec_level))


def read_qr(portal: Portal, css: str) -> ScannedQr:
    """Decode the QR code drawn on the canvas `css` of the page."""
    width, height, data = portal.script(_PIXELS, css)
    return scan_grey(int(width), int(height), base64.b64decode(data))
