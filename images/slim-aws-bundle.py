"""Drop the AWS services nobody on the classpath uses from the AWS SDK v2 bundle jar.

    python slim-aws-bundle.py BUNDLE_JAR OUT_JAR USER_JAR...

The bundle (about 690 MB for 2.35) holds the client of every AWS service; S3A needs a handful.
A service is kept when any USER_JAR (hadoop-aws, the analytics accelerator), any of the bundle's
own non-service classes (core, auth, transfer manager, credential providers that load STS, SSO
by name) or an already kept service names it, in class files or resources; everything else under
software/amazon/awssdk/services/ goes. The shaded third-party code and the SDK core stay whole.
The result is written to OUT_JAR with a note of what was kept in META-INF/fruits-slim.txt.
"""

from __future__ import annotations

import re
import sys
import zipfile
from collections import defaultdict

SERVICES = "software/amazon/awssdk/services/"
REFERENCE = re.compile(rb"software[./]amazon[./]awssdk[./]services[./]([a-z0-9]+)[./]")


def service_of(name: str) -> str | None:
    """The service folder an entry belongs to (`s3` for .../services/s3/S3Client.class), or None."""
    if not name.startswith(SERVICES):
        return None
    rest = name[len(SERVICES):]
    return rest.split("/", 1)[0] if "/" in rest else None


def referenced(jar: zipfile.ZipFile, names: list[str]) -> set[str]:
    """Service names mentioned in the given entries of `jar`."""
    found: set[str] = set()
    for name in names:
        if not name.endswith("/"):
            found.update(m.decode() for m in REFERENCE.findall(jar.read(name)))
    return found


def slim(bundle_path: str, out_path: str, user_jars: list[str]) -> tuple[set[str], int]:
    with zipfile.ZipFile(bundle_path) as bundle:
        by_service: dict[str | None, list[str]] = defaultdict(list)
        for name in bundle.namelist():
            by_service[service_of(name)].append(name)

        wanted: set[str] = referenced(bundle, by_service[None])
        for path in user_jars:
            with zipfile.ZipFile(path) as user:
                wanted |= referenced(user, user.namelist())
        keep: set[str] = set()
        while wanted - keep:
            service = sorted(wanted - keep)[0]
            keep.add(service)
            if service in by_service:
                wanted |= referenced(bundle, by_service[service])
        keep &= set(by_service)

        with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as out:
            for info in bundle.infolist():
                service = service_of(info.filename)
                if service is None or service in keep:
                    out.writestr(info, bundle.read(info))
            dropped = len([s for s in by_service if s is not None]) - len(keep)
            note = f"AWS SDK services kept for S3A: {', '.join(sorted(keep))}; {dropped} others removed\n"
            out.writestr("META-INF/fruits-slim.txt", note)
    return keep, dropped


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    keep, dropped = slim(argv[0], argv[1], argv[2:])
    print(f"slim-aws-bundle: kept {', '.join(sorted(keep))}; removed {dropped} services")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
