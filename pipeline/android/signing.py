"""Which key signs the APK, and signing with it: the debug key (created on first use, like
Android Studio's) or a release key from environment variables (never files in the repo).

Public entry points: `SigningOptions` (`.debug()`, `.release_from_env()`) and `Signer`
(`prepare()` checks the keystore opens, `sign(src, dest)`). Passwords reach keytool and
apksigner through the environment only, never their command lines.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pipeline.android.buildtool import TOOL_TIMEOUT_S, last_line, run_tool
from pipeline.android.toolchain import Toolchain
from pipeline.errors import ApkError, ConfigError

log = logging.getLogger(__name__)

DEBUG_KEYSTORE = Path("~/.android/debug.keystore")  # where Android Studio keeps it too
DEBUG_ALIAS = "androiddebugkey"
DEBUG_PASSWORD = "android"  # the well-known debug keystore password (not a secret)
# Release signing is configured through these environment variables (never files in the repo).
RELEASE_ENV = {
    "keystore": "APK_KEYSTORE",
    "store_password": "APK_KEYSTORE_PASSWORD",
    "alias": "APK_KEY_ALIAS",
    "key_password": "APK_KEY_PASSWORD",  # optional: defaults to the keystore password
}
# Names under which the passwords reach keytool/apksigner (`env:` arguments), never argv.
_STORE_PASS_VAR = "PIPELINE_APK_STORE_PASS"
_KEY_PASS_VAR = "PIPELINE_APK_KEY_PASS"


@dataclass(frozen=True)
class SigningOptions:
    """Which key signs the APK. Build with `SigningOptions.debug()` or `.release_from_env()`.

    Attributes:
      build_type: "debug" (debuggable, debug key) or "release"; names the APK `<name>-<type>.apk`.
      keystore: the keystore file; for debug None = ~/.android/debug.keystore, created on first use.
      alias: the key's alias in the keystore.
      store_password: the keystore password (kept out of repr, logs and command lines).
      key_password: the key's password; None = the keystore password.
    """

    build_type: str = "debug"
    keystore: Path | None = None
    alias: str = DEBUG_ALIAS
    store_password: str = field(default=DEBUG_PASSWORD, repr=False)
    key_password: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.build_type not in ("debug", "release"):
            raise ConfigError(
                f"signing build_type = {self.build_type!r} is unknown", "use 'debug' or 'release'"
            )
        if self.build_type == "release" and self.keystore is None:
            raise ConfigError("a release build needs a keystore", f"set {RELEASE_ENV['keystore']}")

    @classmethod
    def debug(cls, keystore: Path | None = None) -> "SigningOptions":
        """The debug key (alias androiddebugkey, password android), created on first use."""
        return cls(build_type="debug", keystore=Path(keystore) if keystore else None)

    @classmethod
    def release_from_env(cls, environ: Mapping[str, str] | None = None) -> "SigningOptions":
        """A release key from APK_KEYSTORE, APK_KEYSTORE_PASSWORD, APK_KEY_ALIAS (+ APK_KEY_PASSWORD)."""
        env = os.environ if environ is None else environ
        required = ("keystore", "store_password", "alias")
        missing = [RELEASE_ENV[k] for k in required if not env.get(RELEASE_ENV[k])]
        if missing:
            raise ConfigError(
                f"release signing is not configured: {', '.join(missing)} not set",
                "export " + ", ".join(RELEASE_ENV[k] for k in required)
                + f" (and {RELEASE_ENV['key_password']} if the key has its own password)",
            )
        return cls(
            build_type="release",
            keystore=Path(env[RELEASE_ENV["keystore"]]).expanduser(),
            alias=env[RELEASE_ENV["alias"]],
            store_password=env[RELEASE_ENV["store_password"]],
            key_password=env.get(RELEASE_ENV["key_password"]) or None,
        )


class Signer:
    """Signs with the configured key; passwords reach the tools through the environment only."""

    def __init__(self, options: SigningOptions, tc: Toolchain):
        self.options = options
        self.tc = tc
        self.keystore = Path(options.keystore or DEBUG_KEYSTORE).expanduser()
        self.env = {**os.environ, _STORE_PASS_VAR: options.store_password,
                    _KEY_PASS_VAR: options.key_password or options.store_password}

    def prepare(self) -> None:
        """Create the debug keystore on first use; check the keystore opens with its password."""
        if not self.keystore.is_file():
            if self.options.build_type != "debug":
                raise ApkError(
                    f"the release keystore {self.keystore} does not exist",
                    f"point {RELEASE_ENV['keystore']} at your keystore file",
                )
            self._create_debug_keystore()
        result = subprocess.run(
            [str(self.tc.keytool), "-list", "-keystore", str(self.keystore),
             "-storepass:env", _STORE_PASS_VAR, "-alias", self.options.alias],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
            timeout=TOOL_TIMEOUT_S,
        )
        if result.returncode != 0:
            self._raise_keystore_error(result.stdout)

    def _password_fix(self) -> str:
        if self.options.build_type == "release":
            return f"set {RELEASE_ENV['store_password']} to the keystore's password"
        return (f"the debug keystore's password must be '{DEBUG_PASSWORD}': move {self.keystore} aside "
                "and build again to create a new one")

    def _raise_keystore_error(self, output: str) -> None:
        text = output.lower()
        if "password" in text:
            raise ApkError(f"the keystore password for {self.keystore} is wrong", self._password_fix())
        if "does not exist" in text:
            raise ApkError(
                f"the keystore {self.keystore} has no key with alias {self.options.alias!r}",
                f"set {RELEASE_ENV['alias']} to one of the aliases `keytool -list -keystore {self.keystore}` shows"
                if self.options.build_type == "release" else f"move {self.keystore} aside to create a new debug key",
            )
        raise ApkError(
            f"the keystore {self.keystore} cannot be read: {last_line(output)}",
            "check that it is a JKS or PKCS12 keystore",
        )

    def _create_debug_keystore(self) -> None:
        self.keystore.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.keystore.parent, prefix=".keystore-") as tmp:
            fresh = Path(tmp) / "debug.keystore"
            run_tool([str(self.tc.keytool), "-genkeypair", "-keystore", str(fresh), "-storetype", "PKCS12",
                  "-storepass:env", _STORE_PASS_VAR, "-keypass:env", _STORE_PASS_VAR,
                  "-alias", self.options.alias, "-keyalg", "RSA", "-keysize", "2048", "-validity", "10950",
                  "-dname", "CN=Android Debug,O=Android,C=US"], "keytool -genkeypair", env=self.env)
            try:
                os.link(fresh, self.keystore)  # never replaces a keystore another build just made
            except FileExistsError:
                pass
        log.info("created the debug keystore %s", self.keystore)

    def sign(self, src: Path, dest: Path) -> None:
        cmd = [str(self.tc.apksigner), "sign", "--ks", str(self.keystore), "--ks-key-alias", self.options.alias,
               "--ks-pass", f"env:{_STORE_PASS_VAR}", "--key-pass", f"env:{_KEY_PASS_VAR}",
               "--out", str(dest), str(src)]
        result = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                check=False, timeout=TOOL_TIMEOUT_S)
        if result.returncode == 0:
            return
        text = result.stdout.lower()
        if "cannot recover key" in text or "unrecoverablekey" in text or "key password" in text:
            raise ApkError(
                f"the key password for alias {self.options.alias!r} in {self.keystore} is wrong",
                f"set {RELEASE_ENV['key_password']} to the key's password",
            )
        if "password" in text:
            raise ApkError(f"the keystore password for {self.keystore} is wrong", self._password_fix())
        raise ApkError(f"apksigner could not sign the APK: {last_line(result.stdout)}", "check the keystore and alias")
