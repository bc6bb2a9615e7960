"""The portal's files are served from gateway/portal/ and from nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import portal_site


def test_every_page_exists_and_loads_only_its_own_origins_assets() -> None:
    for page in portal_site.PAGES.values():
        html = (portal_site.ROOT / page).read_text()
        # no inline script or style: the CSP would refuse them
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert "http://" not in html and "https://" not in html, "nothing from another origin"


def test_no_module_imports_from_another_origin() -> None:
    for script in portal_site.ROOT.rglob("*.js"):
        text = script.read_text()
        assert "http://" not in text and "https://" not in text, script
        assert "innerHTML" not in text and "eval(" not in text, script


def test_both_message_files_have_the_same_keys() -> None:
    import json

    zh = json.loads((portal_site.ROOT / "i18n" / "zh-CN.json").read_text())
    en = json.loads((portal_site.ROOT / "i18n" / "en.json").read_text())
    assert set(zh) == set(en), set(zh) ^ set(en)


@pytest.mark.parametrize(
    "relative",
    ["", "..", "../app.py", "common/../../app.py", ".hidden", "common/.x", "common", "a//b"],
)
def test_asset_path_refuses_what_is_not_a_portal_file(relative: str) -> None:
    assert portal_site.asset_path(relative) is None


def test_asset_path_refuses_a_symlink_out_of_the_portal(tmp_path: Path) -> None:
    root = tmp_path / "portal"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("no")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "ok.css").write_text("body {}")
    assert portal_site.asset_path("link.txt", root=root) is None
    assert portal_site.asset_path("ok.css", root=root) == (root / "ok.css").resolve()
