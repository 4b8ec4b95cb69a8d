"""The Android side: bundle the model into the sample app and build its APK without Gradle.

`build_apk(ApkOptions(...)) -> ApkResult` is the entry point (see `pipeline.android.apk`);
`resolve_toolchain` finds or installs the tools it uses (`pipeline.android.toolchain`).
"""

from pipeline.android.apk import ApkOptions, ApkResult, build_apk
from pipeline.android.signing import SigningOptions

__all__ = ["ApkOptions", "ApkResult", "SigningOptions", "build_apk"]
