"""The app's Android facts (application id, sdk levels, version), read from `app.properties`.

`android_app/app.properties` is the one place they live: Gradle's `app/build.gradle` loads it
with `java.util.Properties`, and the hermetic build (`pipeline.android.apk`) loads it here.
Public entry point: `read_app_facts(app_dir) -> AppFacts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError

PROPERTIES_FILE = "app.properties"

_PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_REQUIRED = ("applicationId", "namespace", "minSdk", "targetSdk", "compileSdk", "versionCode", "versionName")


@dataclass(frozen=True)
class AppFacts:
    """What both builds agree on about the app.

    Attributes:
      application_id: package name on the device (manifest `package`).
      namespace: Java package of the sources and of the generated R class.
      min_sdk: oldest API level the app installs on.
      target_sdk: API level whose behaviour the app is tested against.
      compile_sdk: API level Gradle compiles against.
      version_code: integer version (must grow with every release).
      version_name: version shown to users.
      source: the file these were read from.
    """

    application_id: str
    namespace: str
    min_sdk: int
    target_sdk: int
    compile_sdk: int
    version_code: int
    version_name: str
    source: Path


def read_app_facts(app_dir: Path) -> AppFacts:
    """Read and check `<app_dir>/app.properties`; raise ConfigError naming the bad key."""
    path = Path(app_dir) / PROPERTIES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the app's Android facts at {path} ({exc.strerror or exc})",
            "pass the android_app/ folder of this repository (ApkOptions.app_dir)",
        ) from None
    props = _parse_properties(text)
    missing = [k for k in _REQUIRED if not props.get(k)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}", f"add them as key=value lines to {path}")
    for key in ("applicationId", "namespace"):
        if not _PACKAGE_RE.match(props[key]):
            raise ConfigError(
                f"{path}: {key} = {props[key]!r} is not a Java package name",
                "use dot-separated identifiers with at least two parts, e.g. com.example.app",
            )
    ints = {k: _int(path, props, k) for k in ("minSdk", "targetSdk", "compileSdk", "versionCode")}
    if not 1 <= ints["minSdk"] <= ints["targetSdk"] <= ints["compileSdk"]:
        raise ConfigError(
            f"{path}: sdk levels minSdk={ints['minSdk']} targetSdk={ints['targetSdk']} "
            f"compileSdk={ints['compileSdk']} are out of order",
            "keep 1 <= minSdk <= targetSdk <= compileSdk",
        )
    if ints["versionCode"] < 1:
        raise ConfigError(f"{path}: versionCode = {ints['versionCode']} is below 1", "use a positive integer")
    return AppFacts(
        application_id=props["applicationId"],
        namespace=props["namespace"],
        min_sdk=ints["minSdk"],
        target_sdk=ints["targetSdk"],
        compile_sdk=ints["compileSdk"],
        version_code=ints["versionCode"],
        version_name=props["versionName"],
        source=path,
    )


def _parse_properties(text: str) -> dict[str, str]:
    """The subset of java.util.Properties the file uses: `key=value` (or `key: value`) lines."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"^([^=:\s]+)\s*(?:[=:]\s*)?(.*)$", line)
        if match:
            props[match.group(1)] = match.group(2).strip()
    return props


def _int(path: Path, props: dict[str, str], key: str) -> int:
    try:
        return int(props[key])
    except ValueError:
        raise ConfigError(f"{path}: {key} = {props[key]!r} is not an integer", f"give {key} a whole number") from None
