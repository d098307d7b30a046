"""The container image and the Kubernetes manifests: what can be checked without a Docker
engine or a cluster (neither runs on our machines)."""
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages():
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    return [("FROM " + p) for p in parts]


def settings_documented():
    text = (ROOT / "config" / "martlet.yaml").read_text()
    return set(re.findall(r"^#? ?([a-z_]+):", text, flags=re.M))


def test_dockerfile_builds_with_the_ci_script_and_runs_slim_and_unprivileged():
    build, run = stages()
    assert build.startswith("FROM swift:") and " AS build" in build.splitlines()[0]
    assert "RUN scripts/build-release /opt/martlet" in build
    assert run.startswith("FROM debian:") and "COPY --from=build /opt/martlet /opt/martlet" in run
    user = re.search(r"^USER (\S+)", run, flags=re.M).group(1)
    assert user != "root" and f"useradd --system --uid 10001" in run
    assert re.search(r"^EXPOSE 8080", run, flags=re.M) and "MARTLET_PORT=8080" in run and "MARTLET_HOST=0.0.0.0" in run
    assert "VOLUME /models" in run and "MARTLET_MODELS_DIR=/models" in run
    assert re.search(r"HEALTHCHECK .*http://127.0.0.1:8080/health", run)
    assert '"/opt/martlet/bin/martlet", "serve"' in run
    # Every file the build stage copies exists.
    for src in re.findall(r"^COPY (\S+) ", build, flags=re.M):
        assert (ROOT / src).exists(), src


def test_the_runtime_image_has_every_library_the_binary_needs():
    prefix = os.environ.get("MARTLET_RELEASE_DIR")
    if not prefix:
        if os.environ.get("CI"):
            pytest.fail("MARTLET_RELEASE_DIR is not set: .ci/run builds it with scripts/build-release")
        pytest.skip("MARTLET_RELEASE_DIR not set (run scripts/build-release DIR and set it)")
    binary = Path(prefix) / "bin" / "martlet"
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libs = {line.split()[0] for line in out.splitlines() if "=>" in line}
    assert not any(l.startswith("libswift") or l.startswith("libFoundation") for l in libs), libs
    provided = {"libz.so.1": "zlib1g", "libssl.so.3": "libssl3", "libcrypto.so.3": "libssl3",
                "libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1"}
    base = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1"}
    run = stages()[1]
    for lib in libs - base:
        assert lib in provided, f"{lib} is not known to come from a package"
        assert provided[lib] in run, f"the runtime stage does not install {provided[lib]} for {lib}"
    assert subprocess.run([str(binary), "serve", "--help"], capture_output=True).returncode == 0


def test_kubernetes_manifests(server):
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "martlet.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"PersistentVolumeClaim", "Deployment", "Service"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert kinds["Deployment"]["spec"]["selector"]["matchLabels"] == kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert kinds["Service"]["spec"]["selector"] == kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    port = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert port["http"] == 8080 and kinds["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    assert c["volumeMounts"][0]["mountPath"] == "/models"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    # Every environment variable is a documented setting.
    for e in c["env"]:
        assert e["name"].startswith("MARTLET_") and e["name"][8:].lower() in settings_documented(), e["name"]
    # The probes point at real endpoints, which answer as the probes expect.
    import urllib.request
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready"), ("startupProbe", "/ready")):
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}
        with urllib.request.urlopen(server.base + path) as r:
            assert r.status == 200
