#!/usr/bin/env python3
"""Build netwarden_<version>_<arch>.deb from this checkout, with dpkg-deb.

Why not debhelper + pybuild: pybuild takes Python dependencies from Debian, and Debian 12 has
pydantic 1.10 and no pydantic-settings. So this does what dh-virtualenv would, without a
virtualenv: the wheel built from the checkout and the wheels of its dependencies are installed
into /usr/lib/netwarden/python (byte-compiled by postinst with py3compile, as Debian does, and
cleaned by prerm), and /usr/bin/netwarden puts that directory first on sys.path. python3-systemd
comes from Debian (journald fields), as do python3 and iproute2.

Build it on the Debian release and architecture it is for: compiled wheels (pydantic-core)
are for this interpreter's version and platform, and Depends: pins that Python version.
Maintainer: comes from $DEBFULLNAME and $DEBEMAIL, as with dch.

    python3 packaging/debian/build_deb.py [--out DIR]      (or: make deb)
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LIB = "usr/lib/netwarden/python"

LAUNCHER = f"""\
#!/usr/bin/python3 -I
# netwarden, as packaged: its bundled dependencies first, then Debian's (python3-systemd).
import sys
sys.path.insert(0, "/{LIB}")
from netwarden.cli import main
sys.exit(main())
"""

# source in the checkout -> (path in the package, mode)
FILES = {
    "systemd/netwarden.service": ("lib/systemd/system/netwarden.service", 0o644),
    "systemd/netwarden.socket": ("lib/systemd/system/netwarden.socket", 0o644),
    "systemd/netwarden.sysusers.conf": ("usr/lib/sysusers.d/netwarden.conf", 0o644),
    "packaging/netwarden.toml": ("etc/netwarden/netwarden.toml", 0o644),
    "README.md": ("usr/share/doc/netwarden/README.md", 0o644),
    "packaging/debian/copyright": ("usr/share/doc/netwarden/copyright", 0o644),
    "packaging/debian/lintian-overrides": ("usr/share/lintian/overrides/netwarden", 0o644),
}
CONFFILES = ["/etc/netwarden/netwarden.toml"]
MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")


def version() -> str:
    text = (ROOT / "netwarden" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not match:
        raise SystemExit("build_deb: no __version__ in netwarden/__init__.py")
    return match.group(1)


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE).stdout.strip()


def install_python(stage: Path, wheels: Path) -> None:
    """The checkout's wheel and its dependencies' wheels, installed into the package's LIB."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--wheel-dir", str(wheels), str(ROOT)], check=True)
    target = stage / LIB
    subprocess.run([*pip, "install", "--no-index", "--find-links", str(wheels), "--target", str(target),
                    "--no-compile", "--no-warn-script-location", "netwarden"], check=True)
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts with this build's interpreter path


def maintainer() -> str:
    name = os.environ.get("DEBFULLNAME", "netwarden developers")
    return f"{name} <{os.environ.get('DEBEMAIL', 'netwarden@example.org')}>"


def changelog() -> bytes:
    """The native package's changelog (Debian policy wants one), gzip -9n: no name or time inside."""
    text = (f"netwarden ({version()}) unstable; urgency=medium\n\n  * Built from the netwarden source tree.\n\n"
            f" -- {maintainer()}  {email.utils.formatdate(localtime=False)}\n")
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def control(stage: Path, arch: str) -> str:
    major, minor = sys.version_info[:2]
    size_kib = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file()) // 1024
    return ((HERE / "control.in").read_text()
            .replace("@MAINTAINER@", maintainer())
            .replace("@VERSION@", version())
            .replace("@ARCH@", arch)
            .replace("@PYTHON@", f"{major}.{minor}")
            .replace("@PYTHON_NEXT@", f"{major}.{minor + 1}")
            .replace("@SIZE@", str(size_kib)))


def build(out: Path) -> Path:
    if not shutil.which("dpkg-deb"):
        raise SystemExit("build_deb: dpkg-deb not found (Debian package dpkg)")
    arch = run("dpkg", "--print-architecture")
    with tempfile.TemporaryDirectory(prefix="netwarden-deb-") as tmp:
        stage = Path(tmp) / "root"
        install_python(stage, Path(tmp) / "wheels")
        launcher = stage / "usr/bin/netwarden"
        launcher.parent.mkdir(parents=True)
        launcher.write_text(LAUNCHER)
        launcher.chmod(0o755)
        for source, (dest, mode) in FILES.items():
            path = stage / dest
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / source, path)
            path.chmod(mode)
        (stage / "usr/share/doc/netwarden/changelog.gz").write_bytes(changelog())
        debian = stage / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(control(stage, arch))
        (debian / "conffiles").write_text("".join(f"{c}\n" for c in CONFFILES))
        for script in MAINTAINER_SCRIPTS:
            shutil.copyfile(HERE / script, debian / script)
            (debian / script).chmod(0o755)
        for path in stage.rglob("*"):  # a umask of the builder's must not leak into the package
            if path.is_dir():
                path.chmod(0o755)
        out.mkdir(parents=True, exist_ok=True)
        deb = out / f"netwarden_{version()}_{arch}.deb"
        partial = deb.with_suffix(".deb.part")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(stage), str(partial)],
                       check=True, stdout=subprocess.DEVNULL)
        os.replace(partial, deb)
        return deb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the .deb goes (default: dist/)")
    out = parser.parse_args().out
    try:
        print(build(out))
    except subprocess.CalledProcessError as e:  # its own output said why, above
        raise SystemExit(f"build_deb: {' '.join(map(str, e.cmd[:4]))} ... exited {e.returncode}") from None


if __name__ == "__main__":
    main()
