"""Resolve Apache Cassandra's jars from Maven Central into a cache folder, once.

The Apache tarball and container images are not reachable from our machines; Maven Central
is. So ``org.apache.cassandra:cassandra-all`` and its dependencies are copied into
``.cache/cassandra/lib`` with the dependency plugin pinned by full coordinates, and the local
Maven repository is kept in ``.cache/m2`` so a rerun (or a CI cache) downloads nothing. A
marker file written after a successful copy tells a complete cache from one that a killed
run left half written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CASSANDRA_VERSION = "5.0.8"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache" / "cassandra"
M2_DIR = REPO_ROOT / ".cache" / "m2"

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ci</groupId><artifactId>cassandra-runtime</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{CASSANDRA_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


class JarResolutionError(RuntimeError):
    """Maven could not produce the Cassandra classpath; the message says what to fix."""


def lib_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """The folder holding cassandra-all and every dependency jar."""
    return cache_dir / "lib"


def _is_complete(lib: Path) -> bool:
    main_jar = lib / f"cassandra-all-{CASSANDRA_VERSION}.jar"
    if not main_jar.exists():
        return False
    # A cache made before the marker existed is complete if it holds the jamm agent too.
    return (lib / ".complete").exists() or any(lib.glob("jamm-*.jar"))


def ensure_jars(cache_dir: Path = CACHE_DIR, m2_dir: Path = M2_DIR) -> Path:
    """Return the lib folder, running Maven into ``cache_dir`` first when it is missing."""
    lib = lib_dir(cache_dir)
    if _is_complete(lib):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError(
            "Maven ('mvn') is not on PATH; install it (apt-get install maven) so the launcher "
            f"can resolve cassandra-all {CASSANDRA_VERSION} into {lib}"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "pom.xml").write_text(_POM)
    tmp = cache_dir / "lib.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "--batch-mode",
        f"-Dmaven.repo.local={m2_dir}",
        f"-DoutputDirectory={tmp}",
        DEPENDENCY_PLUGIN,
    ]
    log = cache_dir / "mvn.log"
    with log.open("w") as out:
        result = subprocess.run(cmd, cwd=cache_dir, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0 or not (tmp / f"cassandra-all-{CASSANDRA_VERSION}.jar").exists():
        raise JarResolutionError(f"Maven failed to resolve cassandra-all; see {log}")
    (tmp / ".complete").write_text(CASSANDRA_VERSION + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    return lib


def jar_cache_bytes(cache_dir: Path = CACHE_DIR) -> int:
    """Total size of the resolved jars, for the status report."""
    return sum(p.stat().st_size for p in lib_dir(cache_dir).glob("*.jar"))
