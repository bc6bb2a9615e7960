"""The portal's QR encoder (gateway/portal/common/qr.js), run in Chromium and read back by an
independent decoder (zxing-cpp): every error correction level, texts from one byte to well past
a phone's comfortable size, ASCII and Chinese, all scan to the text that was encoded."""

from __future__ import annotations

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_qr import read_qr

# Draw `text` with qr.js on a canvas appended to the page, as the pages do.
_DRAW = """
const [text, ecc, done] = arguments;
import('/portal/common/qr.js').then(({ qrCanvas }) => {
  document.querySelector('canvas#qr-under-test')?.remove();
  const canvas = qrCanvas(text, { ecc, moduleSize: 3, label: 'QR' });
  canvas.id = 'qr-under-test';
  document.body.append(canvas);
  done([Number(canvas.dataset.version), Number(canvas.dataset.modules)]);
}).catch((error) => done(String(error)));
"""


def draw(portal: Portal, text: str, ecc: str) -> tuple[int, int]:
    answer = portal.driver.execute_async_script(_DRAW, text, ecc)
    assert isinstance(answer, list), answer
    return int(answer[0]), int(answer[1])


def test_qr_codes_of_every_level_and_size_scan_back_to_their_text(portal: Portal) -> None:
    portal.open("/")
    texts = [
        "a",
        "otpauth://totp/Haikou:psb.officer?secret=JBSWY3DPEHPK3PXP&issuer=Haikou",
        "海口市民服务 · 居民身份证",
        "eyJhbGciOi" + "x" * 300,
        "".join(chr(0x21 + i % 90) for i in range(1100)),
    ]
    seen_versions = set()
    for ecc in ("L", "M", "Q", "H"):
        for text in texts:
            version, modules = draw(portal, text, ecc)
            assert modules == version * 4 + 17
            seen_versions.add(version)
            scanned = read_qr(portal, "canvas#qr-under-test")
            assert scanned.text == text, (ecc, version)
            assert scanned.ec_level == ecc
    assert min(seen_versions) == 1 and max(seen_versions) >= 30, seen_versions
    assert not portal.console_errors()


def test_a_text_too_long_for_any_qr_code_is_refused_not_truncated(portal: Portal) -> None:
    portal.open("/")
    answer = portal.driver.execute_async_script(_DRAW, "x" * 3000, "M")
    assert isinstance(answer, str) and "RangeError" in answer, answer
