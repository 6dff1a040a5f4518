#!/usr/bin/env python3
"""Checks deploy/compose and deploy/docker without a Docker engine (label: unit).

  tests/deploy/compose_test.py [repo root] [bin dir]

1. `docker-compose config -q` accepts deploy/compose/docker-compose.yml (Debian's docker-compose).
2. The resolved file (`docker-compose config`, env files merged) runs the eight services from the
   one image, each with a healthcheck and healthy-conditions on the four data stores; the stage
   workers, analytics and event_logger have no container_name and publish no host port (so
   `--scale <service>=N` works); download, audio_extraction and transcription share the media
   volume at MEDIA_DIR.
3. Every environment variable the services' code reads (ConfigReader calls and getenv in libs/ and
   services/, not tests) is set in compose or has a default in code (required ones:
   RequireString); every variable compose sets for the services is one the code reads (no typos);
   addresses are 0.0.0.0 and HEALTH_PORT is set where a healthcheck needs them.
4. The Dockerfile installs every binary the compose file and deploy/k8s run, each is a CMake
   target, and (when [bin dir] holds the built binaries) the runtime stage's apt packages provide
   every shared library the binaries link directly (readelf NEEDED -> dpkg -S).
Prints every problem and exits 1, or prints OK.
"""
import glob
import os
import re
import subprocess
import sys

import yaml

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../.."))
bin_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "build", "bin")
compose_dir = os.path.join(root, "deploy", "compose")
compose_file = os.path.join(compose_dir, "docker-compose.yml")
dockerfile = os.path.join(root, "deploy", "docker", "Dockerfile")
problems = []

SERVICES = {
    "orchestrator": "chansum-orchestrator",
    "discovery": "chansum-discovery",
    "download": "chansum-download",
    "audio_extraction": "chansum-audio-extraction",
    "transcription": "chansum-transcription",
    "summarization": "chansum-summarization",
    "analytics": "chansum-analytics",
    "event_logger": "chansum-event-logger",
}
STAGES = ["discovery", "download", "audio_extraction", "transcription", "summarization"]
DATA_STORES = ["postgres", "rabbitmq", "kafka", "mongo"]
# Data store services that must exist with these images (official images).
STORE_IMAGES = {"postgres": "postgres:", "rabbitmq": "rabbitmq:", "kafka": "apache/kafka:", "mongo": "mongo:"}

# ------------------------------------------------------------------------ 1. config -q
env = dict(os.environ)
for k in list(env):  # the caller's shell must not leak into the resolved file
    if k.startswith("CHANSUM_") or k == "KAFKA_CLUSTER_ID":
        del env[k]
r = subprocess.run(["docker-compose", "-f", compose_file, "config", "-q"], cwd=compose_dir,
                   capture_output=True, text=True, env=env)
if r.returncode != 0:
    print("FAIL: docker-compose config -q:\n" + r.stderr)
    sys.exit(1)
r = subprocess.run(["docker-compose", "-f", compose_file, "config"], cwd=compose_dir,
                   capture_output=True, text=True, env=env, check=True)
resolved = yaml.safe_load(r.stdout)
with open(compose_file) as f:
    raw = yaml.safe_load(f)
services = resolved.get("services", {})

# ------------------------------------------------------------------------ 2. shape
for name, prefix in STORE_IMAGES.items():
    svc = services.get(name)
    if not svc:
        problems.append(f"compose: no {name} service")
        continue
    if not str(svc.get("image", "")).startswith(prefix):
        problems.append(f"compose: {name} must use the official image {prefix}*, not {svc.get('image')}")
    if "healthcheck" not in svc:
        problems.append(f"compose: {name} has no healthcheck")
    if not svc.get("volumes"):
        problems.append(f"compose: {name} has no data volume")
rabbit_conf = os.path.join(compose_dir, "rabbitmq", "rabbitmq.conf")
if not os.path.exists(rabbit_conf) or not re.search(r"^consumer_timeout\s*=\s*\d+", open(rabbit_conf).read(), re.M):
    problems.append("compose: rabbitmq/rabbitmq.conf must set consumer_timeout")
if not any("rabbitmq.conf" in str(v) for v in services.get("rabbitmq", {}).get("volumes", [])):
    problems.append("compose: rabbitmq does not mount rabbitmq/rabbitmq.conf")
kafka_env = services.get("kafka", {}).get("environment", {})
if "controller" not in str(kafka_env.get("KAFKA_PROCESS_ROLES", "")) or "broker" not in str(kafka_env.get("KAFKA_PROCESS_ROLES", "")):
    problems.append("compose: kafka must run KRaft with KAFKA_PROCESS_ROLES=broker,controller")

images = set()
for name, binary in SERVICES.items():
    svc = services.get(name)
    if not svc:
        problems.append(f"compose: no {name} service")
        continue
    images.add(svc.get("image"))
    command = svc.get("command")
    command = command if isinstance(command, list) else str(command or "").split()
    if not command or command[0] != binary:
        problems.append(f"compose: {name} must run {binary}, runs {command}")
    if "healthcheck" not in svc:
        problems.append(f"compose: {name} has no healthcheck")
    deps = svc.get("depends_on", {})
    for store in DATA_STORES:
        cond = deps.get(store, {}).get("condition") if isinstance(deps, dict) else None
        if cond != "service_healthy":
            problems.append(f"compose: {name} must depend on {store} with condition service_healthy")
    if name != "orchestrator" and name != "analytics":
        if "ports" in svc:
            problems.append(f"compose: worker {name} publishes host ports (breaks --scale)")
    if name in STAGES + ["event_logger"] and "container_name" in svc:
        problems.append(f"compose: worker {name} has a container_name (breaks --scale)")
if len(images) != 1:
    problems.append(f"compose: the eight services must share one image, found {sorted(map(str, images))}")
for name in ["download", "audio_extraction", "transcription"]:
    svc = services.get(name, {})
    media_dir = svc.get("environment", {}).get("MEDIA_DIR")
    mounts = [v for v in svc.get("volumes", []) if isinstance(v, str) and v.split(":")[0] == "media"]
    if not media_dir or not any(v.split(":")[1] == media_dir for v in mounts):
        problems.append(f"compose: {name} must mount the shared 'media' volume at MEDIA_DIR ({media_dir})")
if "media" not in (raw.get("volumes") or {}):
    problems.append("compose: no named 'media' volume")

# ------------------------------------------------------------------------ 3. environment
readers = r"String|Int|Bool|Duration|Choice|RequireString"
stage_names = re.findall(r'"([a-z_]+)"', open(os.path.join(root, "libs/protocol/src/command.cpp")).read().split("kStageNames", 1)[1].split(";", 1)[0])
read = {}  # name -> required?
for path in sorted(glob.glob(os.path.join(root, "libs/**/*.[ch]pp"), recursive=True) +
                   glob.glob(os.path.join(root, "services/**/*.[ch]pp"), recursive=True)):
    if "/tests/" in path:
        continue
    text = open(path, errors="replace").read()
    for m in re.finditer(r'\.(' + readers + r')\(\s*"([A-Z][A-Z0-9_]*)"', text):
        read[m.group(2)] = read.get(m.group(2), False) or m.group(1) == "RequireString"
    for m in re.finditer(r'getenv\(\s*"([A-Z][A-Z0-9_]*)"', text):
        read.setdefault(m.group(1), False)
    for m in re.finditer(r'\+\s*"(_[A-Z0-9_]+)"', text):
        if re.search(r'\.(' + readers + r')\([^;]*\+\s*"' + m.group(1), text):
            for s in stage_names:
                read.setdefault(s.upper() + m.group(1), False)
# "URL" is a sentence fragment passed by a helper that records a problem (see config_doc_test.sh).
read.pop("URL", None)
read.pop("PATH", None)
if len(read) < 40:
    problems.append(f"env: found only {len(read)} variables in the code: the extraction is broken")
for name, binary in SERVICES.items():
    environment = services.get(name, {}).get("environment", {}) or {}
    for var, required in sorted(read.items()):
        if required and var not in environment:
            problems.append(f"env: {name} does not set {var}, which the code requires (no default)")
    for var in environment:
        if var not in read:
            problems.append(f"env: compose sets {var} for {name}, but no service reads it (typo?)")
    if name in STAGES + ["event_logger"]:
        if environment.get("HEALTH_ADDR") != "0.0.0.0" or not str(environment.get("HEALTH_PORT", "0")).isdigit() or int(environment.get("HEALTH_PORT", "0")) == 0:
            problems.append(f"env: {name} needs HEALTH_ADDR=0.0.0.0 and a HEALTH_PORT for its healthcheck")
        elif str(environment["HEALTH_PORT"]) not in " ".join(map(str, services[name].get("healthcheck", {}).get("test", []))):
            problems.append(f"env: {name}'s healthcheck does not use HEALTH_PORT {environment['HEALTH_PORT']}")
    if name == "orchestrator" and environment.get("HTTP_ADDR") != "0.0.0.0":
        problems.append("env: orchestrator needs HTTP_ADDR=0.0.0.0")
    if name == "analytics" and environment.get("ANALYTICS_HTTP_ADDR") != "0.0.0.0":
        problems.append("env: analytics needs ANALYTICS_HTTP_ADDR=0.0.0.0")

# ------------------------------------------------------------------------ 4. image
docker = open(dockerfile).read()
stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", docker, re.M | re.I)
if len(stages) < 2:
    problems.append("Dockerfile: must be multi-stage (build + runtime)")
if not re.search(r"^USER\s+(?!root|0\b)\S+", docker, re.M):
    problems.append("Dockerfile: the runtime stage must switch to a non-root USER")
runtime = docker.split("AS runtime", 1)[1] if "AS runtime" in docker else docker
# The binaries the build stage copies into the image: `for b in <list>; do install ... /out/$b`.
installed = set()
if "for b in" in docker and "/out/$b" in docker:
    installed = set(re.findall(r"chansum-[a-z-]+", docker.split("for b in", 1)[1].split(";", 1)[0]))
run_by_deploy = set(SERVICES.values())


def containers(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers(item)


for manifest in sorted(glob.glob(os.path.join(root, "deploy/k8s/**/*.yaml"), recursive=True)):
    with open(manifest) as f:
        for doc in yaml.safe_load_all(f):
            for c in containers(doc):
                command = c.get("command") or []
                if command and str(command[0]).startswith("chansum-"):
                    run_by_deploy.add(str(command[0]))
for binary in sorted(run_by_deploy):
    if binary not in installed:
        problems.append(f"Dockerfile: {binary} is run by the deployment but not installed into the image")
cmake_targets = set()
for cm in glob.glob(os.path.join(root, "services/*/CMakeLists.txt")):
    cmake_targets |= set(re.findall(r"chansum_executable\(\s*(chansum-[a-z-]+)", open(cm).read()))
for binary in sorted(run_by_deploy):
    if binary not in cmake_targets:
        problems.append(f"{binary} is not a CMake target (services/*/CMakeLists.txt)")
    if binary not in docker.split("--target", 1)[-1].split("&&", 1)[0]:
        problems.append(f"Dockerfile: {binary} is not in the cmake --build --target list")
block = runtime.split("apt-get install", 1)[1].split("&&", 1)[0] if "apt-get install" in runtime else ""
apt_runtime = set(w for w in re.split(r"[\s\\]+", block) if w and not w.startswith("-"))
if "pocketsphinx-en-us" not in apt_runtime or "ffmpeg" not in apt_runtime:
    problems.append("Dockerfile: the runtime stage must install ffmpeg and pocketsphinx-en-us")
if "yt-dlp" not in runtime:
    problems.append("Dockerfile: the runtime stage must install yt-dlp")
BASE = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}  # in debian:bookworm-slim
SANITIZER_RUNTIMES = ("libasan", "libubsan")  # the ASan+UBSan test build only, not the image
checked = 0
ldconfig = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
for binary in sorted(run_by_deploy):
    path = os.path.join(bin_dir, binary)
    if not os.path.exists(path):
        continue
    checked += 1
    elf = subprocess.run(["readelf", "-d", path], capture_output=True, text=True)
    if elf.returncode != 0:
        problems.append(f"{binary}: readelf -d failed: {elf.stderr.strip()}")
        continue
    out = elf.stdout
    for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out):
        # The file the loader would use (this architecture's multiarch directory), then its package.
        paths = [line.split("=>")[-1].strip() for line in ldconfig.splitlines()
                 if line.strip().startswith(lib + " ")]
        paths = [p for p in paths if os.uname().machine in p] or paths
        where = subprocess.run(["dpkg", "-S", os.path.realpath(paths[0]) if paths else lib],
                               capture_output=True, text=True).stdout
        if not where and paths:
            where = subprocess.run(["dpkg", "-S", paths[0]], capture_output=True, text=True).stdout
        pkg = where.split(":", 1)[0].strip()
        if not pkg:
            problems.append(f"{binary}: no Debian package provides {lib}")
        elif pkg not in apt_runtime and pkg not in BASE and not pkg.startswith(SANITIZER_RUNTIMES):
            problems.append(f"Dockerfile: {binary} links {lib} from {pkg}, which the runtime stage does not install")
if checked == 0:
    print(f"note: no built binaries in {bin_dir}: skipped the shared-library check")

for p in problems:
    print("FAIL: " + p)
if problems:
    sys.exit(1)
print(f"OK: compose valid, {len(SERVICES)} services, {len(read)} variables covered, "
      f"{len(run_by_deploy)} binaries installed, {checked} checked for shared libraries")
